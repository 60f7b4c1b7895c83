//! Prints the YAML of Kaptain's custom resource definitions:
//! `cargo run -p kaptain-heal --example crdgen > deploy/crds/kaptain.dev_crds.yaml`

fn main() -> Result<(), kaptain_heal::Error> {
    print!("{}", kaptain_heal::crd::crds_yaml()?);
    Ok(())
}
