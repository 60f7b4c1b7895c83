//! The committed CRD YAML must be what the code generates.

use std::path::Path;

#[test]
fn committed_crds_match_the_generated_ones() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds/kaptain.dev_crds.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = kaptain_heal::crd::crds_yaml().expect("generate");
    assert!(
        committed == generated,
        "{} is missing or out of date: run `cargo run -p kaptain-heal --example crdgen > deploy/crds/kaptain.dev_crds.yaml`",
        path.display()
    );
}
