//! Rendered command lines run through a real shell (`/bin/sh`, and bash where there is
//! one): whatever a member's values hold, they reach the program as the argv entries the
//! quoting around their keys says, byte for byte, and never run as shell syntax.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use medgrid_domain::catalog::{CommandLine, Descriptor};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A fresh directory holding files a glob would match (`*`, `?`, `[` show up as such).
fn work_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "medgrid-shell-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["x", "y z", "-n", "E"] {
        std::fs::write(dir.join(name), "").unwrap();
    }
    dir
}

fn shells() -> Vec<&'static str> {
    ["/bin/sh", "/bin/bash"]
        .into_iter()
        .filter(|s| std::path::Path::new(s).exists())
        .collect()
}

/// Runs `script` with `shell` and splits what it printed at NULs.
fn printed(shell: &str, script: &str) -> Vec<String> {
    let dir = work_dir();
    let out = Command::new(shell)
        .arg("-c")
        .arg(script)
        .current_dir(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{shell} failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut entries: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_owned)
        .collect();
    assert_eq!(entries.pop().as_deref(), Some(""), "ends with a NUL");
    entries
}

#[test]
fn the_reported_attack_writes_the_literal_value() {
    let doc = json!({
        "name": "greet", "description": "d", "tool-version": "1", "schema-version": "0.5",
        "command-line": "echo \"[NAME]\" > out.txt",
        "inputs": [{"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]"}]
    });
    let d = Descriptor::parse(&doc).unwrap();
    let value = "$(echo PWNED-$((6*7)))";
    let line = d.command_line(&d.parameters(&json!({"name": value})).unwrap());
    assert_eq!(line.command, r#"echo "\$(echo PWNED-\$((6*7)))" > out.txt"#);
    // the invocation, and (until the dispatcher runs it) the display form
    for script in [line.invocation.to_script(), line.command] {
        let dir = work_dir();
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        let written = std::fs::read_to_string(dir.join("out.txt")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(written, format!("{value}\n"), "{script}");
    }
}

/// Every kind of input the template may use, each at its own value-key.
fn descriptor(command_line: &str) -> Descriptor {
    let string =
        |id: &str, key: &str| json!({"id": id, "name": id, "type": "String", "value-key": key});
    let mut inputs = vec![
        string("s0", "[S0]"),
        string("s1", "[S1]"),
        string("f0", "[F0]"),
    ];
    inputs[2]["command-line-flag"] = json!("-f");
    inputs.push(string("f1", "[F1]"));
    inputs[3]["command-line-flag"] = json!("--g");
    inputs[3]["command-line-flag-separator"] = json!("=");
    inputs.push(
        json!({"id": "l0", "name": "l0", "type": "String", "value-key": "[L0]", "list": true}),
    );
    inputs.push(
        json!({"id": "l1", "name": "l1", "type": "String", "value-key": "[L1]", "list": true,
                       "list-separator": ","}),
    );
    inputs.push(json!({"id": "file", "name": "file", "type": "File", "value-key": "[FILE]"}));
    inputs.push(
        json!({"id": "n", "name": "n", "type": "Number", "integer": true, "value-key": "[N]"}),
    );
    inputs.push(
        json!({"id": "v", "name": "v", "type": "Flag", "command-line-flag": "-v",
                       "value-key": "[V]", "optional": true}),
    );
    let doc = json!({
        "name": "argv", "description": "prints its arguments", "tool-version": "1",
        "schema-version": "0.5", "command-line": command_line, "inputs": inputs,
        "output-files": [{"id": "out", "name": "out", "value-key": "[OUT]", "path-template": "out-[N].txt"}]
    });
    Descriptor::parse(&doc).unwrap()
}

/// What a key stands for once the shell has read it.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Unquoted: its words (flag, items…).
    Words,
    /// In quotes: all of it as one entry.
    Joined,
    Prefixed(&'static str),
    AfterOption(&'static str),
    /// Through `$( … )`, which drops trailing newlines, after the template's own text.
    Substituted(&'static str),
    /// `x"[K]"y'[K]'z`
    Twice,
    PlusOne,
}

/// (input, template with `{K}` for its key, what it prints)
const PIECES: &[(&str, &str, Expect)] = &[
    ("s0", "{K}", Expect::Words),
    ("s0", "\"{K}\"", Expect::Joined),
    ("s0", "'{K}'", Expect::Joined),
    ("s1", "--opt={K}", Expect::Prefixed("--opt=")),
    ("s1", "--opt {K}", Expect::AfterOption("--opt")),
    ("s1", "\"$(printf '%s' {K})\"", Expect::Substituted("")),
    ("s0", "\"$(printf '%s' \"{K}\")\"", Expect::Substituted("")),
    ("s1", "\"`printf '%s' {K}`\"", Expect::Substituted("")),
    ("s0", "x\"{K}\"y'{K}'z", Expect::Twice),
    (
        "s1",
        "\"$(cat <<EOF\n{K}\nEOF\n)\"",
        Expect::Substituted(""),
    ),
    (
        "s0",
        "\"$(cat <<'EOF'\n{K}\nEOF\n)\"",
        Expect::Substituted(""),
    ),
    (
        "s1",
        "\"$(cat <<-\"EOF\"\n\t$HOME {K}\n\tEOF\n)\"",
        Expect::Substituted("$HOME "),
    ),
    ("s0", "\"${MEDGRID_UNSET:-{K}}\"", Expect::Joined),
    ("f0", "{K}", Expect::Words),
    ("f0", "\"{K}\"", Expect::Joined),
    ("f1", "{K}", Expect::Words),
    ("f1", "'{K}'", Expect::Joined),
    ("l0", "{K}", Expect::Words),
    ("l0", "\"{K}\"", Expect::Joined),
    ("l0", "'{K}'", Expect::Joined),
    ("l1", "{K}", Expect::Words),
    ("l1", "\"{K}\"", Expect::Joined),
    ("file", "{K}", Expect::Words),
    ("file", "'{K}'", Expect::Joined),
    ("n", "{K}", Expect::Words),
    ("n", "$(( {K} + 1 ))", Expect::PlusOne),
    ("v", "{K}", Expect::Words),
    ("v", "\"{K}\"", Expect::Joined),
    ("out", "{K}", Expect::Words),
];

fn key(input: &str) -> String {
    format!("[{}]", input.to_uppercase())
}

/// The values a job gives, and what each input's key reads as, unquoted (words) and quoted.
#[derive(Debug, Clone)]
struct Values {
    json: Value,
}

impl Values {
    fn str(&self, id: &str) -> String {
        match &self.json[id] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn items(&self, id: &str) -> Vec<String> {
        self.json[id]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    fn words(&self, id: &str) -> Vec<String> {
        let v = self.str(id);
        match id {
            "f0" => vec!["-f".into(), v],
            "f1" => vec![format!("--g={v}")],
            "l0" => self.items(id),
            "l1" if self.items(id).is_empty() => vec![],
            "l1" => vec![self.items(id).join(",")],
            "file" if v.starts_with('-') => vec![format!("./{v}")],
            "v" if self.json["v"] == true => vec!["-v".into()],
            "v" => vec![],
            "out" => vec![format!("out-{}.txt", self.str("n"))],
            _ => vec![v],
        }
    }

    fn joined(&self, id: &str) -> String {
        match id {
            "f0" => format!("-f {}", self.str(id)),
            "l0" => self.items(id).join(" "),
            _ => self.words(id).join(""),
        }
    }

    fn expect(&self, id: &str, expect: Expect) -> Vec<String> {
        let v = self.str(id);
        match expect {
            Expect::Words => self.words(id),
            Expect::Joined => vec![self.joined(id)],
            Expect::Prefixed(prefix) => vec![format!("{prefix}{v}")],
            Expect::AfterOption(option) => vec![option.to_owned(), v],
            Expect::Substituted(before) => {
                vec![format!("{before}{v}").trim_end_matches('\n').to_owned()]
            }
            Expect::Twice => vec![format!("x{v}y{v}z")],
            Expect::PlusOne => vec![(self.json[id].as_i64().unwrap() + 1).to_string()],
        }
    }
}

/// Values made of what shells treat specially.
fn nasty() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("'"),
        Just("\""),
        Just("$"),
        Just("`"),
        Just("\\"),
        Just("'\\''"),
        Just("$(echo PWNED)"),
        Just("`echo PWNED`"),
        Just("${HOME}"),
        Just("$((6*7))"),
        Just("\n"),
        Just("\t"),
        Just(" "),
        Just("*"),
        Just("?"),
        Just("["),
        Just("]"),
        Just("-"),
        Just("--x"),
        Just("~"),
        Just("#"),
        Just(";"),
        Just("|"),
        Just("&"),
        Just("<"),
        Just(">"),
        Just("("),
        Just(")"),
        Just("{"),
        Just("}"),
        Just("EOF"),
        Just("é"),
        Just("語"),
        Just("😀"),
        Just("\r"),
        Just("\u{1}"),
    ]
    .prop_map(str::to_owned);
    let any_char = any::<char>()
        .prop_filter("no NUL", |c| *c != '\0')
        .prop_map(String::from);
    prop::collection::vec(
        prop_oneof![6 => fragment, 1 => any_char, 1 => "[a-z]{1,4}"],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn values() -> impl Strategy<Value = Values> {
    (
        (nasty(), nasty(), nasty(), nasty()),
        prop::collection::vec(nasty(), 0..3),
        prop::collection::vec(nasty(), 0..3),
        "-?[a-z .'\"$*`\\\\]{0,6}[a-z]",
        -99i64..99,
        any::<bool>(),
    )
        .prop_map(|((s0, s1, f0, f1), l0, l1, file, n, v)| Values {
            json: json!({"s0": s0, "s1": s1, "f0": f0, "f1": f1, "l0": l0, "l1": l1,
                         "file": file, "n": n, "v": v}),
        })
}

/// The template of the pieces chosen, and what `printf '%s\0'` should print.
fn case(pieces: &[usize], comment: bool, values: &Values) -> (String, Vec<String>) {
    let mut template = "printf '%s\\0' START".to_owned();
    let mut expected = vec!["START".to_owned()];
    for &i in pieces {
        let (id, text, expect) = PIECES[i];
        template.push(' ');
        template.push_str(&text.replace("{K}", &key(id)));
        expected.extend(values.expect(id, expect));
    }
    // unused keys still have to be in the command line
    template.push_str("\n: '[S0] [S1] [F0] [F1] [L0] [L1] [FILE] [N] [V] [OUT]'");
    if comment {
        template.push_str("\n# it's [S0] \"[S1]\" `[L0]`\n:");
    }
    (template, expected)
}

fn rendered(template: &str, values: &Values) -> CommandLine {
    let d = descriptor(template);
    let params = d.parameters(&values.json).unwrap();
    d.command_line(&params)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn each_value_reaches_the_program_byte_for_byte(
        pieces in prop::collection::vec(0..PIECES.len(), 1..6),
        comment in any::<bool>(),
        values in values(),
    ) {
        let (template, expected) = case(&pieces, comment, &values);
        let line = rendered(&template, &values);
        for shell in shells() {
            let got = printed(shell, &line.invocation.to_script());
            prop_assert_eq!(&got, &expected, "{} ran\n{}", shell, line.invocation.to_script());
        }
    }
}
