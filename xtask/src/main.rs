//! `cargo xtask`: the project's own tooling — reference stack setup, pairings, tests.

mod bench;
mod codegen;
mod compare;
mod cross;
mod demo;
mod env;
mod guest;
mod native;
mod ours;
mod pair;
mod process;
mod qemu;
mod reference;
mod setup;
mod soak;
mod test;
mod versions;

use env::Home;

const USAGE: &str = "usage: cargo xtask <command>
  setup [--guests] [--reference newest|trixie]
                       install the reference stacks (one Debian trixie chroot each: the newest, QEMU 11.1 + Mesa 26.1
                       + virglrenderer 1.3, is the default; trixie's own is the second) under $VENUS_RS_HOME
                       (default ~/.cache/venus-rs); --reference installs only that one; --guests also builds each
                       stack's x86_64 and aarch64 guest images
  pair ...             run a program through a guest/host/transport pairing (see `cargo xtask pair --help`)
  soak ...             run N processes in one guest boot and count failures and hangs (see `cargo xtask soak --help`)
  native [--validate] -- PROGRAM [ARGS...]
                       run a program natively on lavapipe in the reference chroot (the pixel oracle); test
                       programs of tests/ are built by name first (see `cargo xtask native --help`)
  compare-vulkaninfo --a G,H,T --b G,H,T
                       run vulkaninfo in two pairings and report every difference (allow-list:
                       tests/vulkaninfo-allowlist.txt)
  codegen [--check]    regenerate encoder/src/generated from vk.xml (--check: fail when it is stale)
  install --prefix DIR [--arch x86_64|aarch64] [--destdir DIR]
                       build and install our guest half (ICD, manifest, venus-probe) under a prefix
  demo [--out FILE.png] [--frames N] [--arch aarch64|x86_64]
                       vkcube in a guest through our ICD and our host under QEMU, captured as a PNG
                       (default demo.png; see `cargo xtask demo --help`)
  bench [--transport T ...] [--pairings G/H,...] [--rounds N] [--quick] [--out DIR]
                       benchmark workloads natively and through each pairing: table, targets, CSV, chart
                       (see `cargo xtask bench --help`)
  test                 everything CI runs: setup, fmt, clippy, unit tests, end-to-end pairings";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: &[String]) -> Result<i32, String> {
    let Some(command) = args.first() else {
        return Err(USAGE.to_string());
    };
    let rest = &args[1..];
    let home = Home::from_env()?;
    match command.as_str() {
        "setup" => {
            let mut options = setup::SetupOptions::default();
            let mut rest = rest.iter();
            while let Some(option) = rest.next() {
                match option.as_str() {
                    "--guests" => options.guests = true,
                    "--reference" => {
                        let name = rest.next().ok_or("setup: --reference needs a value")?;
                        options.references = vec![reference::Reference::parse(name)?];
                    }
                    other => return Err(format!("setup: unknown option {other:?}\n{USAGE}")),
                }
            }
            setup::setup(&home, &options)?;
            Ok(0)
        }
        "pair" => {
            if rest.first().is_some_and(|a| a == "--help" || a == "-h") {
                println!("{}", pair::USAGE);
                return Ok(0);
            }
            let pairing = pair::Pairing::parse(rest)?;
            pair::run(&home, &pairing)
        }
        "soak" => {
            if rest.first().is_some_and(|a| a == "--help" || a == "-h") {
                println!("{}", soak::USAGE);
                return Ok(0);
            }
            soak::soak(&home, rest)
        }
        "native" => {
            if rest.first().is_some_and(|a| a == "--help" || a == "-h") {
                println!("{}", native::USAGE);
                return Ok(0);
            }
            native::run(&home, &native::NativeRun::parse(rest)?)
        }
        "bench" => {
            if rest.first().is_some_and(|a| a == "--help" || a == "-h") {
                println!("{}", bench::USAGE);
                return Ok(0);
            }
            bench::run(&home, rest)
        }
        "compare-vulkaninfo" => compare::compare(rest),
        "codegen" => {
            let check = match rest {
                [] => false,
                [flag] if flag == "--check" => true,
                _ => return Err(format!("codegen: unknown options {rest:?}\n{USAGE}")),
            };
            codegen::codegen(check)?;
            Ok(0)
        }
        "install" => {
            ours::install_command(rest)?;
            Ok(0)
        }
        "demo" => {
            if rest.first().is_some_and(|a| a == "--help" || a == "-h") {
                println!("{}", demo::USAGE);
                return Ok(0);
            }
            demo::run(&home, rest)
        }
        "test" => {
            test::run_all(&home)?;
            Ok(0)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}
