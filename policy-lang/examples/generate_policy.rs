//! Prints a generated policy: `generate_policy SHAPE N` with SHAPE one of
//! `exact`, `globs`, `mixed`, `prefixes`, `long` (see benches/support/generate.rs).

#[path = "../benches/support/generate.rs"]
mod generate;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().as_deref().and_then(generate::Shape::from_name);
    let n = args.next().and_then(|n| n.parse::<usize>().ok());
    match (shape, n) {
        (Some(shape), Some(n)) => print!("{}", generate::policy(shape, n)),
        _ => {
            eprintln!("usage: generate_policy exact|globs|mixed|prefixes|long N");
            std::process::exit(2);
        }
    }
}
