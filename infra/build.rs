//! `sqlx::migrate!` embeds the migrations when this crate compiles: a new or changed
//! migration must recompile it, even when no source file of the crate changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
