#![doc = include_str!("../README.md")]

pub mod acl;
pub mod backend;
mod catalog;
pub mod dicom;
pub mod disclosure;
pub mod error;
pub mod manual;
pub mod path;
pub mod query;
pub mod remote;
pub mod replication;
pub mod schema;
pub mod value;

pub use acl::{Permission, Permissions, Principal, Subject};
pub use backend::{Annotation, Backend, QueryResult};
pub use catalog::{Catalog, Initialised};
pub use error::{Error, Result};
pub use path::CollectionPath;
pub use schema::{Attribute, Entry, Schema};
pub use value::{AttrType, Value};
