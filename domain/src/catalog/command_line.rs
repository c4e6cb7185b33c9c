//! Command lines built by Boutiques' templating rules: each value-key is replaced by the
//! input's flag and value(s), or removed when the input is inactive; output paths come
//! from their path-templates with input values substituted (file inputs by their base
//! name, listed extensions stripped).
//!
//! A command line is rendered twice. The invocation, which runs, binds every value to a
//! shell variable and only references it, in the form right for the quoting around its
//! key, so no value is ever parsed as shell syntax. The display form, which people read,
//! has each value quoted for its context instead.

use serde_json::Value;

use super::descriptor::{Descriptor, Input, InputType, Output};
use super::parameters::Parameters;
use super::shell_lexer::{self, Context, Filled, Token};
use crate::jobs::{Invocation, single_quoted};

/// What an attempt runs, how it reads, and where its outputs will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// How the command line reads for a person, each value quoted for its context.
    pub command: String,
    pub invocation: Invocation,
    /// (output id, path relative to the work directory)
    pub outputs: Vec<(String, String)>,
}

/// Quotes a value for a POSIX shell: plain words stay as they are, anything else goes in
/// single quotes.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        value.to_owned()
    } else {
        single_quoted(value)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A path as an argument: one starting with `-` gets `./`, so no program takes it for an option.
fn not_an_option(path: String) -> String {
    if path.starts_with('-') {
        format!("./{path}")
    } else {
        path
    }
}

/// What a value-key stands for: the descriptor's own flag text, then arguments (indices
/// into the invocation's), separated by spaces.
struct Slot {
    flag: String,
    arguments: Vec<usize>,
}

/// The flag and its separator (a space unless the descriptor says otherwise).
fn flag_text(flag: Option<&str>, separator: Option<&str>) -> String {
    flag.map(|f| format!("{f}{}", separator.unwrap_or(" ")))
        .unwrap_or_default()
}

fn add(arguments: &mut Vec<String>, value: String) -> usize {
    arguments.push(value);
    arguments.len() - 1
}

/// An active input's slot, or none when nothing stands for it (an empty list). The items
/// of a space-separated list are arguments each; other separators join them into one.
fn input_slot(input: &Input, value: &Value, arguments: &mut Vec<String>) -> Option<Slot> {
    if input.kind == InputType::Flag {
        let flag = input.command_line_flag.clone().unwrap_or_default();
        return Some(Slot {
            flag,
            arguments: vec![],
        });
    }
    let mut items: Vec<String> = match value.as_array() {
        Some(items) => items.iter().map(text).collect(),
        None => vec![text(value)],
    };
    if items.is_empty() {
        return None;
    }
    if input.kind == InputType::File {
        items = items.into_iter().map(not_an_option).collect();
    }
    let separator = input.list_separator.as_deref().unwrap_or(" ");
    if separator != " " {
        items = vec![items.join(separator)];
    }
    Some(Slot {
        flag: flag_text(
            input.command_line_flag.as_deref(),
            input.command_line_flag_separator.as_deref(),
        ),
        arguments: items.into_iter().map(|v| add(arguments, v)).collect(),
    })
}

fn is_integer(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// How the script refers to argument `index` where the shell reads `context`.
fn reference(index: usize, context: Context, value: &str) -> String {
    let name = Invocation::variable(index);
    match context {
        Context::Unquoted | Context::Comment => format!("\"${{{name}}}\""),
        Context::SingleQuoted => format!("'\"${{{name}}}\"'"),
        Context::DoubleQuoted | Context::HereDoc | Context::LiteralHereDoc => {
            format!("${{{name}}}")
        }
        // the shell evaluates what it expands there (bash even runs `a[$(…)]`): only an
        // integer goes in; anything else stops the script, naming the argument
        Context::Arithmetic if is_integer(value) => format!("${{{name}}}"),
        Context::Arithmetic => format!("${{{name}_IS_NOT_AN_INTEGER?}}"),
    }
}

/// `value` with a backslash before each of `special`.
fn escaped(value: &str, special: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How `value` reads in the display form where the shell reads `context`. Only the
/// invocation is safe to run: in a here-document, a comment or arithmetic a value cannot
/// be quoted.
fn shown(value: &str, context: Context) -> String {
    match context {
        Context::Unquoted | Context::Comment => shell_quote(value),
        Context::DoubleQuoted => escaped(value, "\\\"$`"),
        Context::SingleQuoted => value.replace('\'', r"'\''"),
        Context::HereDoc => escaped(value, "\\$`"),
        Context::LiteralHereDoc | Context::Arithmetic => value.to_owned(),
    }
}

fn fill(slot: &Slot, context: Context, arguments: &[String]) -> Filled {
    let each = |render: &dyn Fn(usize, &str) -> String| {
        let parts: Vec<String> = slot
            .arguments
            .iter()
            .map(|&i| render(i, &arguments[i]))
            .collect();
        format!("{}{}", slot.flag, parts.join(" "))
    };
    Filled {
        script: each(&|i, value| reference(i, context, value)),
        display: each(&|_, value| shown(value, context)),
    }
}

/// The template cut at its value-keys, in one pass: a value is never searched for keys.
/// Where keys overlap, the longest wins. Keys `present` says are absent are removed.
fn tokens(template: &str, keys: &[&str], present: impl Fn(usize) -> bool) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(template.len());
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let key = (0..keys.len())
            .filter(|&k| !keys[k].is_empty() && rest.starts_with(keys[k]))
            .max_by_key(|&k| keys[k].len());
        match key {
            Some(k) => {
                if present(k) {
                    tokens.push(Token::Key(k));
                }
                rest = &rest[keys[k].len()..];
            }
            None => {
                tokens.push(Token::Char(c));
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    tokens
}

/// A value with the first matching extension removed.
fn stripped(value: &str, extensions: &[String]) -> String {
    extensions
        .iter()
        .find_map(|ext| value.strip_suffix(ext.as_str()))
        .unwrap_or(value)
        .to_owned()
}

impl Descriptor {
    /// A path-template with input values substituted as they are: a path is no shell.
    fn output_path(&self, output: &Output, params: &Parameters) -> String {
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for input in &self.inputs {
            let Some(key) = &input.value_key else {
                continue;
            };
            let value = params.get(&input.id).map(|v| {
                let value = text(v);
                let base = match input.kind {
                    InputType::File => value.rsplit('/').next().unwrap_or(&value),
                    _ => &value,
                };
                stripped(base, &output.path_template_stripped_extensions)
            });
            keys.push(key.as_str());
            values.push(value);
        }
        tokens(&output.path_template, &keys, |k| values[k].is_some())
            .into_iter()
            .map(|token| match token {
                Token::Char(c) => c.to_string(),
                Token::Key(k) => values[k].clone().unwrap_or_default(),
            })
            .collect()
    }

    /// Builds the command line of valid parameters.
    pub fn command_line(&self, params: &Parameters) -> CommandLine {
        let outputs: Vec<(String, String)> = self
            .output_files
            .iter()
            .map(|o| (o.id.clone(), self.output_path(o, params)))
            .collect();
        let mut arguments = Vec::new();
        let mut keys = Vec::new();
        let mut slots = Vec::new();
        for input in &self.inputs {
            let Some(key) = &input.value_key else {
                continue;
            };
            keys.push(key.as_str());
            slots.push(
                params
                    .get(&input.id)
                    .and_then(|v| input_slot(input, v, &mut arguments)),
            );
        }
        for (output, (_, path)) in self.output_files.iter().zip(&outputs) {
            let Some(key) = &output.value_key else {
                continue;
            };
            keys.push(key.as_str());
            slots.push(Some(Slot {
                flag: flag_text(
                    output.command_line_flag.as_deref(),
                    output.command_line_flag_separator.as_deref(),
                ),
                arguments: vec![add(&mut arguments, not_an_option(path.clone()))],
            }));
        }
        let tokens = tokens(&self.command_line, &keys, |k| slots[k].is_some());
        let (script, command) = shell_lexer::render(&tokens, |k, context| match &slots[k] {
            Some(slot) => fill(slot, context, &arguments),
            None => Filled {
                script: String::new(),
                display: String::new(),
            },
        });
        CommandLine {
            command,
            invocation: Invocation { script, arguments },
            outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::descriptor::tests::sample;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a.nii"), "a.nii");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn builds_the_command_line_and_output_paths() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "in/patient scan.nii.gz", "iterations": 12, "labels": ["liver", "kidney"]}))
            .expect("valid");
        let cl = d.command_line(&p);
        assert_eq!(
            cl.command,
            "dosecalc 'in/patient scan.nii.gz' --mode=fast -n 12 liver,kidney 'patient scan_dose.nii'"
        );
        assert_eq!(
            cl.outputs,
            vec![("dose".to_owned(), "patient scan_dose.nii".to_owned())]
        );
    }

    #[test]
    fn flags_and_absent_optionals() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "a.nii", "verbose": true, "mode": "accurate"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc a.nii --mode=accurate -v a_dose.nii"
        );
        let p = d
            .parameters(&json!({"activity": "x;reboot"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc 'x;reboot' --mode=fast 'x;reboot_dose.nii'"
        );
    }

    #[test]
    fn the_invocation_references_every_value() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "in/patient scan.nii.gz", "iterations": 12, "labels": ["liver", "kidney"]}))
            .expect("valid");
        let invocation = d.command_line(&p).invocation;
        assert_eq!(
            invocation.script,
            r#"dosecalc "${MEDGRID_ARG_1}" --mode="${MEDGRID_ARG_2}" -n "${MEDGRID_ARG_3}" "${MEDGRID_ARG_4}" "${MEDGRID_ARG_5}""#
        );
        assert_eq!(
            invocation.arguments,
            [
                "in/patient scan.nii.gz",
                "fast",
                "12",
                "liver,kidney",
                "patient scan_dose.nii"
            ]
        );
    }

    /// A descriptor running `command_line`, with one optional String input at `[NAME]`.
    fn with_name(command_line: &str, name: Value) -> CommandLine {
        let doc = json!({
            "name": "named", "description": "d", "tool-version": "1", "schema-version": "0.5",
            "command-line": command_line,
            "inputs": [{"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]",
                        "optional": true, "list": name.is_array()}]
        });
        let d = Descriptor::parse(&doc).expect("valid");
        let p = d.parameters(&json!({ "name": name })).expect("valid");
        d.command_line(&p)
    }

    #[test]
    fn each_context_gets_its_reference_and_its_display_quoting() {
        let value = "it's \"$x\" `id` \\";
        let cl = with_name(
            r#"echo [NAME] "[NAME]" '[NAME]' "$(echo '[NAME]')""#,
            json!(value),
        );
        assert_eq!(
            cl.invocation.script,
            r#"echo "${MEDGRID_ARG_1}" "${MEDGRID_ARG_1}" ''"${MEDGRID_ARG_1}"'' "$(echo ''"${MEDGRID_ARG_1}"'')""#
        );
        assert_eq!(
            cl.command,
            r#"echo 'it'\''s "$x" `id` \' "it's \"\$x\" \`id\` \\" 'it'\''s "$x" `id` \' "$(echo 'it'\''s "$x" `id` \')""#
        );
        assert_eq!(cl.invocation.arguments[..1], [value]);
    }

    #[test]
    fn here_documents_and_arithmetic() {
        let cl = with_name(
            "cat <<EOF\n[NAME]\nEOF\ncat <<'E'\n$ [NAME]\nE",
            json!("$x"),
        );
        assert_eq!(
            cl.invocation.script,
            "cat <<EOF\n${MEDGRID_ARG_1}\nEOF\ncat <<MEDGRID_EOF_2\n\\$ ${MEDGRID_ARG_1}\nMEDGRID_EOF_2"
        );
        assert_eq!(cl.command, "cat <<EOF\n\\$x\nEOF\ncat <<'E'\n$ $x\nE");
        let cl = with_name("echo $(( [NAME] + 1 ))", json!("-3"));
        assert_eq!(cl.invocation.script, "echo $(( ${MEDGRID_ARG_1} + 1 ))");
        let cl = with_name("echo $(( [NAME] + 1 ))", json!("a[$(id)]"));
        assert_eq!(
            cl.invocation.script,
            "echo $(( ${MEDGRID_ARG_1_IS_NOT_AN_INTEGER?} + 1 ))"
        );
    }

    #[test]
    fn space_separated_lists_give_an_argument_per_item() {
        let cl = with_name(r#"run [NAME] "[NAME]""#, json!(["a b", "c"]));
        assert_eq!(
            cl.invocation.script,
            r#"run "${MEDGRID_ARG_1}" "${MEDGRID_ARG_2}" "${MEDGRID_ARG_1} ${MEDGRID_ARG_2}""#
        );
        assert_eq!(cl.invocation.arguments[..2], ["a b", "c"]);
        assert_eq!(cl.command, r#"run 'a b' c "a b c""#);
        let cl = with_name("run [NAME] x", json!([]));
        assert_eq!(cl.command, "run x");
    }

    #[test]
    fn removed_keys_tidy_unquoted_blanks_only() {
        let cl = with_name("run   [NAME]   x \"a  [NAME]  b\"\n  next  \t", json!(null));
        assert_eq!(cl.command, "run x \"a    b\"\n  next");
        assert_eq!(cl.invocation.script, cl.command);
    }

    #[test]
    fn a_file_starting_with_a_dash_is_no_option() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "-rf.nii"}))
            .expect("valid");
        let cl = d.command_line(&p);
        assert_eq!(cl.command, "dosecalc ./-rf.nii --mode=fast ./-rf_dose.nii");
        assert_eq!(
            cl.invocation.arguments,
            ["./-rf.nii", "fast", "./-rf_dose.nii"]
        );
        assert_eq!(cl.outputs, [("dose".to_owned(), "-rf_dose.nii".to_owned())]);
    }

    #[test]
    fn spaces_inside_values_and_keys_inside_values_are_kept() {
        let d = Descriptor::parse(&sample()).expect("valid");
        let p = d
            .parameters(&json!({"activity": "two  spaces [ITER].nii"}))
            .expect("valid");
        assert_eq!(
            d.command_line(&p).command,
            "dosecalc 'two  spaces [ITER].nii' --mode=fast 'two  spaces [ITER]_dose.nii'"
        );
    }
}
