//! What an attempt runs. Members' values never go into the script's text: the script
//! only references shell variables bound before it, and the shell does not parse the
//! result of a variable's expansion as syntax.

use serde::{Deserialize, Serialize};

/// What an attempt runs: a POSIX sh script that takes every value from a shell variable
/// (`MEDGRID_ARG_1`, …) bound before it, so no value is ever parsed as shell syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    pub script: String,
    /// The value of `MEDGRID_ARG_<n>` is `arguments[n - 1]`.
    pub arguments: Vec<String>,
}

impl Invocation {
    /// The name of the variable holding argument `index` (0-based).
    pub fn variable(index: usize) -> String {
        format!("MEDGRID_ARG_{}", index + 1)
    }

    /// The whole job script: `MEDGRID_ARG_<n>='…'` lines (single-quoted, `'` as `'\''`), then `script`.
    /// Plain assignments, not exports: the job's environment stays as it was.
    pub fn to_script(&self) -> String {
        let mut whole = String::new();
        for (i, value) in self.arguments.iter().enumerate() {
            whole.push_str(&format!("{}={}\n", Self::variable(i), single_quoted(value)));
        }
        whole.push_str(&self.script);
        whole
    }
}

/// `value` in single quotes, each `'` as `'\''`: the shell reads it back byte for byte.
pub(crate) fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_each_argument_before_the_script() {
        let invocation = Invocation {
            script: "run \"${MEDGRID_ARG_1}\" \"${MEDGRID_ARG_2}\"".into(),
            arguments: vec!["it's".into(), String::new()],
        };
        assert_eq!(
            invocation.to_script(),
            "MEDGRID_ARG_1='it'\\''s'\nMEDGRID_ARG_2=''\nrun \"${MEDGRID_ARG_1}\" \"${MEDGRID_ARG_2}\""
        );
    }
}
