//! Writes a generated grid site: `cargo run -p maps --example gen-site -- DIR FLOORS COLS ROWS`
//! (e.g. `target/big-site 3 58 58` for the 10,092-node benchmark site), for load runs.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, floors, cols, rows] = args.as_slice() else {
        eprintln!("usage: gen-site DIR FLOORS COLS ROWS");
        std::process::exit(2);
    };
    let n = |s: &str| s.parse::<u32>().expect("a number");
    let files = maps::generate::grid_site("generated", n(floors), n(cols), n(rows));
    files
        .write(std::path::Path::new(dir))
        .expect("site written");
    println!("wrote {dir}");
}
