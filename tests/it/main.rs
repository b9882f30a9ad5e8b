//! The one integration-test binary (as ripgrep has one): each module a family of scenarios run through
//! the airlock binary (or the library) by one harness, `common`.

mod common;

mod archives;
mod attacks;
mod cli;
mod cluster_policy;
mod conformance;
mod digests;
mod dist;
mod docker_archive;
mod docker_archive_engine;
mod flags;
mod hangar_zip;
mod import;
mod interop;
mod keyless;
mod kyverno;
mod layouts;
mod messages;
mod policy_parity;
mod readme;
mod remote;
mod scale;
mod scenarios;
mod zarf;
