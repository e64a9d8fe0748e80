//! Tier 2: every WGSL file in `shaders/` parses and validates with naga, as
//! the pipeline composes them, without a GPU.

use std::path::Path;

fn validate(name: &str, source: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
}

#[test]
fn every_composed_shader_parses_and_validates() {
    for (name, source) in liveroom::pipeline::SHADERS {
        validate(name, source);
    }
}

#[test]
fn every_file_in_shaders_is_compiled_by_the_pipeline() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("shaders/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable shader");
        assert!(
            liveroom::pipeline::SHADERS
                .iter()
                .any(|(_, source)| source.contains(&text)),
            "{} is not part of any shader the pipeline compiles",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 3, "expected the shader files in {}", dir.display());
}
