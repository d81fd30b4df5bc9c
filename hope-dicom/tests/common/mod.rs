//! Helpers shared by the integration tests that build DICOM data sets by hand.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};

/// An element of the in-memory object type.
pub(crate) type Elem = DataElement<InMemDicomObject>;

/// A text element.
pub(crate) fn s(tag: Tag, vr: VR, v: &str) -> Elem {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

/// A sequence of items made of elements.
pub(crate) fn sq(tag: Tag, items: Vec<Vec<Elem>>) -> Elem {
    DataElement::new(
        tag,
        VR::SQ,
        DataSetSequence::from(
            items
                .into_iter()
                .map(InMemDicomObject::from_element_iter)
                .collect::<Vec<_>>(),
        ),
    )
}

/// Opens a Part 10 file.
pub(crate) fn open(p: &Path) -> DefaultDicomObject {
    OpenFileOptions::new().open_file(p).unwrap()
}

/// A string attribute's value, trailing NUL removed.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string()
}
