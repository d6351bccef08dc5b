#!/usr/bin/perl
# Usage: perl client.pl PORT MODE   (MODE: do | background | status)
# Prints one line per observation; test_perl.py asserts the output exactly.
use strict;
use warnings;
use Gearman::Client;
use Time::HiRes qw(time);
$| = 1;
my ($port, $mode) = @ARGV;
my $c = Gearman::Client->new(job_servers => ["127.0.0.1:$port"]);

sub show { my $r = shift; return defined $r ? ${$r} : "undef" }
sub st {
    my $s = shift;
    return "undef" unless $s;
    my $p = $s->progress;
    return join(" ", "known=" . ($s->known ? 1 : 0), "running=" . ($s->running ? 1 : 0),
        "progress=" . ($p ? join("/", @$p) : "none"));
}

if ($mode eq "do") {
    print "normal ", show($c->do_task(reverse => "hello")), "\n";
    print "high ", show($c->do_task(reverse => "high", { priority => "high" })), "\n";
    print "low ", show($c->do_task(reverse => "low", { priority => "low" })), "\n";
    my @ev;
    my $r = $c->do_task(chunky => "x", {
        on_data   => sub { push @ev, "data " . ${ $_[0] } },
        on_status => sub { push @ev, "status $_[0]/$_[1]" },
    });
    print "$_\n" for @ev;
    print "chunky ", show($r), "\n";
    print "failer ", show($c->do_task(failer => "x")), "\n";
}
elsif ($mode eq "background") {
    my $h = $c->dispatch_background(reverse => "bg", { uniq => "perl-bg" });
    print "handle ", ($h =~ m{^127\.0\.0\.1:\d+//\S+$} ? "ok" : "bad:$h"), "\n";
    # Each get_status is a round trip to the server: the loop waits on the server's answers,
    # bounded by the deadline, with no sleep in between.
    my $deadline = time + 10;
    my $s;
    do { $s = $c->get_status($h); } while ($s && $s->known && time < $deadline);
    print "after ", st($s), "\n";
}
elsif ($mode eq "status") {
    my $h = $c->dispatch_background(hold => "h", { uniq => "perl-hold" });
    print "handle ", ($h ? "ok" : "bad"), "\n";
    my $deadline = time + 10;
    my $s;
    do { $s = $c->get_status($h); }
        while (!($s && $s->running && $s->progress && $s->progress->[0] == 1) && time < $deadline);
    print "status ", st($s), "\n";
    print "unknown ", st($c->get_status("127.0.0.1:$port//H:nosuch:1")), "\n";
}
else { die "unknown mode $mode" }
