//! `gearlet`: the job server (a stand-in for `gearmand`) and its shell toolbox. Everything is in
//! the library's `cli` module.

fn main() {
    std::process::exit(gearlet::cli::main());
}
