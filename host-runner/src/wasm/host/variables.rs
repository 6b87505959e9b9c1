//! `fermyon:spin/variables@2.0.0`: a component reads only the variables its `spin.toml` entry
//! declares (`[component.x.variables]`), rendered at start from the application variables (see
//! `wasm::variables` for where their values come from).

use super::fermyon::spin::variables::{Error, Host};
use super::State;
use crate::wasm::manifest::is_valid_name;

impl Host for State {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if !is_valid_name(&name) {
            return Ok(Err(Error::InvalidName(format!("invalid variable name `{name}`"))));
        }
        Ok(match self.grants.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(Error::Undefined(format!("no variable for `{name}`"))),
        })
    }
}
