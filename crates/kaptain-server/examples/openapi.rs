//! Prints the REST API's OpenAPI document (committed as docs/openapi.json; a test checks it
//! is current): `cargo run -p kaptain-server --example openapi > docs/openapi.json`.

fn main() {
    match serde_json::to_string_pretty(&kaptain_server::api::openapi()) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("openapi: {e}");
            std::process::exit(2);
        }
    }
}
