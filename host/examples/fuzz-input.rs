//! Prints the commands the `execute_commands` fuzz target builds from an input file (a
//! crash artifact, a corpus entry), one a line with its arguments.
//!
//! usage: cargo run -p venus-rs-host --features fuzzing --example fuzz-input -- FILE

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fuzz-input FILE");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(1);
    });
    for (index, (command, flags)) in venus_rs_host::fuzzing::generated_commands(&bytes)
        .iter()
        .enumerate()
    {
        println!("#{index} flags {flags}: {command:?}");
    }
}
