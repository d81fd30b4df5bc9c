//! Parsing and checking an arbitrary query text never panics.
#![no_main]

use hope_catalog::{AttrType, Attribute, Schema, query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let schema = Schema::new(vec![
        Attribute::new("Modality", AttrType::Text),
        Attribute::new("Age", AttrType::Int),
        Attribute::new("Dose", AttrType::Float),
        Attribute::new("StudyDate", AttrType::Date),
        Attribute::new("Acquired", AttrType::Timestamp),
        Attribute::new("Contrast", AttrType::Bool),
        Attribute::new("StudyUID", AttrType::Uid),
    ])
    .expect("valid schema");
    if let Ok(q) = query::parse(text) {
        let _ = query::check(&q, &schema);
    }
});
