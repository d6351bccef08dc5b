#!/usr/bin/perl
# Usage: perl worker.pl PORT
# Gearman::Worker serving reverse, chunky, failer, hold. Prints "ready" before the work loop and
# "holding <handle>" when `hold` starts; `hold` finishes after a line on stdin.
use strict;
use warnings;
use Gearman::Worker;
$| = 1;
my $port = shift or die "port";
my $w = Gearman::Worker->new(job_servers => ["127.0.0.1:$port"], client_id => "perl-worker");
$w->register_function(reverse => sub { return scalar reverse $_[0]->arg });
$w->register_function(chunky => sub {
    my $job = shift;
    $w->send_work_data($job, "part1");
    $job->set_status(1, 2);
    $w->send_work_data($job, "part2");
    $job->set_status(2, 2);
    return "done:" . $job->arg;
});
# returning undef makes Gearman::Worker send a plain WORK_FAIL. (A die would send WORK_EXCEPTION
# then WORK_FAIL; see the note in test_perl.py.)
$w->register_function(failer => sub { return undef });
$w->register_function(hold => sub {
    my $job = shift;
    $job->set_status(1, 4);
    print "holding ", $job->handle, "\n";
    my $line = <STDIN>;
    chomp($line) if defined $line;
    return "released:" . ($line // "");
});
print "ready\n";
$w->work() while 1;
