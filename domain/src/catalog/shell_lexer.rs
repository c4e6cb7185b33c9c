//! A small lexer of POSIX sh, just enough to know how the text around each value-key of a
//! command-line template is quoted: unquoted, in double or single quotes, inside
//! `$( … )` or backquotes (where quoting starts afresh), in `${ … }`, in `$(( … ))`, in a
//! comment, or in a here-document body. The caller decides what a key becomes in each.
//!
//! It is not a full parser (`case` patterns inside `$( … )` or quotes opened inside
//! backquotes within double quotes can mislead it). What keeps a value safe is that the
//! script only references variables, whose expansion the shell never parses as syntax;
//! a context read wrongly can at worst split one argument or keep a reference literal.
//! The exceptions are the descriptor's to answer for: commands that evaluate their
//! arguments (`eval`, `sh -c`) and bash's own arithmetic (`(( ))`, `[[ -eq ]]`, `let`),
//! which this POSIX lexer does not know.
//!
//! It also tidies what removed keys leave: a run of blanks in unquoted text becomes one
//! space, indentation stays as written, blanks at the end of a line go. Quoted text,
//! here-document bodies and newlines are kept as they are.

/// A piece of a template: a character, or where value-key `n` stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    Char(char),
    Key(usize),
}

/// How the shell reads the text where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    /// Top level, or inside `$( … )`, backquotes or an unquoted `${ … }`.
    Unquoted,
    /// Inside `"…"` (or a `${ … }` within them).
    DoubleQuoted,
    SingleQuoted,
    /// A here-document body whose delimiter is unquoted: `$`, `` ` `` and `\` are special.
    HereDoc,
    /// A here-document body whose delimiter is quoted: nothing is special.
    LiteralHereDoc,
    /// Inside `$(( … ))`: the expansion is evaluated as an arithmetic expression.
    Arithmetic,
    /// After `#` to the end of the line: never run.
    Comment,
}

/// What a key becomes in the script and in the display form.
pub(super) struct Filled {
    pub script: String,
    pub display: String,
}

/// Renders `tokens` twice: the script and the display form, each key as `fill` says for
/// its context. Here-document bodies with a quoted delimiter and keys in them get an
/// unquoted delimiter in the script, their text escaped, so that their keys can be
/// references; the display form keeps them as written.
pub(super) fn render(
    tokens: &[Token],
    fill: impl FnMut(usize, Context) -> Filled,
) -> (String, String) {
    let mut lexer = Lexer {
        tokens,
        at: 0,
        stack: Vec::new(),
        out: Out::default(),
        pending: Vec::new(),
        bodies: Vec::new(),
        words: Vec::new(),
        word_at: Vec::new(),
        word_start: true,
        fill,
    };
    while let Some(token) = lexer.next() {
        match token {
            Token::Key(key) => lexer.key(key),
            Token::Char(c) => lexer.char(c),
        }
    }
    lexer.finish()
}

/// What ends a frame where quoting starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    /// The top level: the end of the text.
    End,
    /// `)`, once the nested parentheses (count) are closed.
    Paren(u32),
    Backquote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Command(Closer),
    Double,
    Single,
    /// `${ … }`, read as the text around it is (its keys get that context).
    Brace(Context),
    /// `$(( … ))`, with the count of nested parentheses.
    Arithmetic(u32),
    Comment,
    /// The body of here-document `n` (index in `Lexer::bodies`).
    Body(usize),
}

/// A here-document whose body starts at the next newline.
struct Pending {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
    /// Its delimiter word's index in `Lexer::words`.
    word: usize,
}

struct Body {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
    /// The unquoted delimiter the script uses instead, when keys stand in a quoted body.
    rewritten: Option<String>,
}

/// The delimiter word as written: its text, the delimiter once quotes are removed, and
/// whether any of it was quoted.
#[derive(Default)]
struct Word {
    raw: String,
    delimiter: String,
    quoted: bool,
}

/// Both renderings, and the run of blanks not yet written.
#[derive(Default)]
struct Out {
    script: String,
    display: String,
    blanks: String,
}

impl Out {
    fn both(&mut self, text: &str) {
        self.split(text, text);
    }

    fn split(&mut self, script: &str, display: &str) {
        self.flush();
        self.script.push_str(script);
        self.display.push_str(display);
    }

    /// Writes the pending blanks: indentation as it is, any other run as one space.
    fn flush(&mut self) {
        if self.blanks.is_empty() {
            return;
        }
        let run = if self.script.is_empty() || self.script.ends_with('\n') {
            std::mem::take(&mut self.blanks)
        } else {
            self.blanks.clear();
            " ".to_owned()
        };
        self.script.push_str(&run);
        self.display.push_str(&run);
    }

    fn newline(&mut self) {
        self.blanks.clear();
        self.both("\n");
    }
}

struct Lexer<'t, F> {
    tokens: &'t [Token],
    at: usize,
    /// Frames above the top level.
    stack: Vec<Frame>,
    out: Out,
    pending: Vec<Pending>,
    bodies: Vec<Body>,
    /// Each here-document's delimiter word as the script writes it, and where.
    words: Vec<String>,
    word_at: Vec<(usize, usize)>,
    /// Whether a `#` here starts a comment.
    word_start: bool,
    fill: F,
}

impl<F: FnMut(usize, Context) -> Filled> Lexer<'_, F> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).copied();
        self.at += usize::from(token.is_some());
        token
    }

    fn peek_char(&self) -> Option<char> {
        match self.tokens.get(self.at) {
            Some(Token::Char(c)) => Some(*c),
            _ => None,
        }
    }

    fn top(&self) -> Frame {
        self.stack
            .last()
            .copied()
            .unwrap_or(Frame::Command(Closer::End))
    }

    fn set_top(&mut self, frame: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = frame;
        }
    }

    fn emit(&mut self, c: char) {
        self.out.both(c.encode_utf8(&mut [0; 4]));
    }

    fn context(&self) -> Context {
        match self.top() {
            Frame::Command(_) => Context::Unquoted,
            Frame::Double => Context::DoubleQuoted,
            Frame::Brace(context) => context,
            Frame::Single => Context::SingleQuoted,
            Frame::Arithmetic(_) => Context::Arithmetic,
            Frame::Comment => Context::Comment,
            Frame::Body(n) if self.bodies[n].quoted => Context::LiteralHereDoc,
            Frame::Body(_) => Context::HereDoc,
        }
    }

    fn key(&mut self, key: usize) {
        let context = self.context();
        let filled = (self.fill)(key, context);
        self.out.split(&filled.script, &filled.display);
        self.word_start = false;
    }

    fn char(&mut self, c: char) {
        match self.top() {
            Frame::Command(closer) => self.command(c, closer),
            Frame::Double => self.double(c),
            Frame::Single => {
                self.emit(c);
                if c == '\'' {
                    self.stack.pop();
                }
            }
            Frame::Brace(context) => self.brace(c, context),
            Frame::Arithmetic(depth) => self.arithmetic(c, depth),
            Frame::Comment if c == '\n' => {
                // the newline ends the line for the frame below (here-documents start)
                self.stack.pop();
                self.char(c);
            }
            Frame::Comment => self.emit(c),
            Frame::Body(n) => self.body(c, n),
        }
    }

    fn command(&mut self, c: char, closer: Closer) {
        let word_start = std::mem::replace(&mut self.word_start, false);
        match c {
            ' ' | '\t' => {
                self.out.blanks.push(c);
                self.word_start = true;
            }
            '\n' => {
                self.out.newline();
                self.word_start = true;
                self.start_body();
            }
            '#' if word_start => {
                self.emit(c);
                self.stack.push(Frame::Comment);
            }
            '\\' => self.escape(),
            '\'' => {
                self.emit(c);
                self.stack.push(Frame::Single);
            }
            '"' => {
                self.emit(c);
                self.stack.push(Frame::Double);
            }
            '`' if closer == Closer::Backquote => {
                self.emit(c);
                self.stack.pop();
            }
            '`' => self.backquote(),
            '$' => self.dollar(Context::Unquoted),
            '(' | ')' => self.paren(c, closer),
            '<' if self.peek_char() == Some('<') => self.here_doc_operator(),
            ';' | '&' | '|' | '<' | '>' => {
                self.emit(c);
                self.word_start = true;
            }
            _ => self.emit(c),
        }
    }

    fn paren(&mut self, c: char, closer: Closer) {
        self.emit(c);
        self.word_start = true;
        match (c, closer) {
            ('(', Closer::Paren(depth)) => self.set_top(Frame::Command(Closer::Paren(depth + 1))),
            (')', Closer::Paren(0)) => {
                self.stack.pop();
            }
            (')', Closer::Paren(depth)) => self.set_top(Frame::Command(Closer::Paren(depth - 1))),
            _ => {}
        }
    }

    /// A backslash and the character it escapes. Before a key it is dropped: it would
    /// only escape the value's first character, and a value is taken literally anyway.
    fn escape(&mut self) {
        match self.tokens.get(self.at) {
            Some(Token::Key(_)) => {}
            Some(Token::Char(next)) => {
                let next = *next;
                self.at += 1;
                self.emit('\\');
                self.emit(next);
            }
            None => self.emit('\\'),
        }
    }

    fn backquote(&mut self) {
        self.emit('`');
        self.stack.push(Frame::Command(Closer::Backquote));
        self.word_start = true;
    }

    /// `$`, and what it may open: `$(( … ))`, `$( … )` or `${ … }`.
    fn dollar(&mut self, context: Context) {
        self.emit('$');
        match self.peek_char() {
            Some('(') => {
                self.at += 1;
                self.emit('(');
                if self.peek_char() == Some('(') {
                    self.at += 1;
                    self.emit('(');
                    self.stack.push(Frame::Arithmetic(0));
                } else {
                    self.stack.push(Frame::Command(Closer::Paren(0)));
                    self.word_start = true;
                }
            }
            Some('{') => {
                self.at += 1;
                self.emit('{');
                self.stack.push(Frame::Brace(context));
            }
            _ => {}
        }
    }

    fn double(&mut self, c: char) {
        match c {
            '"' => {
                self.emit(c);
                self.stack.pop();
            }
            '\\' => self.escape(),
            '$' => self.dollar(Context::DoubleQuoted),
            '`' => self.backquote(),
            _ => self.emit(c),
        }
    }

    fn brace(&mut self, c: char, context: Context) {
        match c {
            '}' => {
                self.emit(c);
                self.stack.pop();
            }
            '\\' => self.escape(),
            '$' => self.dollar(context),
            '`' => self.backquote(),
            '\'' if context == Context::Unquoted => {
                self.emit(c);
                self.stack.push(Frame::Single);
            }
            '"' => {
                self.emit(c);
                self.stack.push(Frame::Double);
            }
            _ => self.emit(c),
        }
    }

    fn arithmetic(&mut self, c: char, depth: u32) {
        match c {
            '(' => {
                self.emit(c);
                self.set_top(Frame::Arithmetic(depth + 1));
            }
            ')' if depth > 0 => {
                self.emit(c);
                self.set_top(Frame::Arithmetic(depth - 1));
            }
            ')' => {
                self.emit(c);
                if self.peek_char() == Some(')') {
                    self.at += 1;
                    self.emit(')');
                }
                self.stack.pop();
            }
            '\\' => self.escape(),
            '$' => self.dollar(Context::Arithmetic),
            '`' => self.backquote(),
            _ => self.emit(c),
        }
    }

    /// `<<` or `<<-` and the delimiter word; the body starts at the end of the line.
    fn here_doc_operator(&mut self) {
        self.at += 1;
        self.out.both("<<");
        let strip_tabs = match self.peek_char() {
            // bash's here-string `<<<`: no body
            Some('<') => {
                self.at += 1;
                self.emit('<');
                return;
            }
            Some('-') => {
                self.at += 1;
                self.emit('-');
                true
            }
            _ => false,
        };
        while let Some(c @ (' ' | '\t')) = self.peek_char() {
            self.at += 1;
            self.out.blanks.push(c);
        }
        let word = self.here_doc_word();
        if word.raw.is_empty() {
            return;
        }
        // the script's word is known once the body has been looked at
        self.out.split("", &word.raw);
        self.word_at.push((self.out.script.len(), self.words.len()));
        self.pending.push(Pending {
            delimiter: word.delimiter,
            strip_tabs,
            quoted: word.quoted,
            word: self.words.len(),
        });
        self.words.push(word.raw);
    }

    fn here_doc_word(&mut self) -> Word {
        let mut word = Word::default();
        let mut quote = None;
        while let Some(c) = self.peek_char() {
            if quote.is_none()
                && matches!(
                    c,
                    ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
                )
            {
                break;
            }
            self.at += 1;
            word.raw.push(c);
            match (quote, c) {
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.quoted = true;
                }
                (Some(q), _) if c == q => quote = None,
                (None | Some('"'), '\\') => {
                    word.quoted = true;
                    if let Some(next) = self.peek_char() {
                        self.at += 1;
                        word.raw.push(next);
                        word.delimiter.push(next);
                    }
                }
                _ => word.delimiter.push(c),
            }
        }
        word
    }

    /// At a newline outside quotes: the next pending here-document's body starts.
    fn start_body(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = self.pending.remove(0);
        let mut body = Body {
            delimiter: pending.delimiter,
            strip_tabs: pending.strip_tabs,
            quoted: pending.quoted,
            rewritten: None,
        };
        let (lines, has_keys) = self.body_lines(&body);
        if body.quoted && has_keys {
            let word = fresh_delimiter(pending.word, &lines, body.strip_tabs);
            self.words[pending.word] = word.clone();
            body.rewritten = Some(word);
        }
        self.bodies.push(body);
        self.stack.push(Frame::Body(self.bodies.len() - 1));
        self.body_line(self.bodies.len() - 1);
    }

    /// The keyless lines of the body starting here, and whether any line has a key.
    fn body_lines(&self, body: &Body) -> (Vec<String>, bool) {
        let (mut lines, mut has_keys) = (Vec::new(), false);
        let mut start = self.at;
        while start < self.tokens.len() && self.terminator_at(start, body).is_none() {
            let (end, text) = self.line_at(start);
            match text {
                Some(text) => lines.push(text),
                None => has_keys = true,
            }
            start = end + 1;
        }
        (lines, has_keys)
    }

    /// Where the line starting at `start` ends, and its text if it has no key.
    fn line_at(&self, start: usize) -> (usize, Option<String>) {
        let mut text = Some(String::new());
        let mut end = start;
        while let Some(token) = self.tokens.get(end) {
            match token {
                Token::Char('\n') => break,
                Token::Char(c) => {
                    if let Some(t) = text.as_mut() {
                        t.push(*c);
                    }
                }
                Token::Key(_) => text = None,
            }
            end += 1;
        }
        (end, text)
    }

    /// The end of the line at `start` if it closes `body`.
    fn terminator_at(&self, start: usize, body: &Body) -> Option<usize> {
        let (end, text) = self.line_at(start);
        let text = text?;
        let word = if body.strip_tabs {
            text.trim_start_matches('\t')
        } else {
            &text
        };
        (word == body.delimiter).then_some(end)
    }

    /// At the start of a body line: if it is the delimiter, the body ends (the newline
    /// after it belongs to the frame below, where the next here-document may start).
    fn body_line(&mut self, n: usize) {
        let body = &self.bodies[n];
        let Some(end) = self.terminator_at(self.at, body) else {
            return;
        };
        let line: String = self.tokens[self.at..end]
            .iter()
            .filter_map(|t| match t {
                Token::Char(c) => Some(*c),
                Token::Key(_) => None,
            })
            .collect();
        let script = match &body.rewritten {
            Some(word) => {
                let tabs = &line[..line.len() - line.trim_start_matches('\t').len()];
                format!("{tabs}{word}")
            }
            None => line.clone(),
        };
        self.at = end;
        self.out.split(&script, &line);
        self.stack.pop();
    }

    fn body(&mut self, c: char, n: usize) {
        if c == '\n' {
            self.out.both("\n");
            self.body_line(n);
            return;
        }
        let body = &self.bodies[n];
        if body.quoted {
            // a rewritten body expands in the script: its own text must stay literal
            let script = match (&body.rewritten, c) {
                (Some(_), '\\' | '$' | '`') => format!("\\{c}"),
                _ => c.to_string(),
            };
            self.out.split(&script, c.encode_utf8(&mut [0; 4]));
            return;
        }
        match c {
            '\\' => self.escape(),
            '$' => self.dollar(Context::HereDoc),
            '`' => self.backquote(),
            _ => self.emit(c),
        }
    }

    /// The script with each here-document's delimiter word in place, and the display form.
    fn finish(self) -> (String, String) {
        let mut script = String::with_capacity(self.out.script.len());
        let mut from = 0;
        for (at, word) in &self.word_at {
            script.push_str(&self.out.script[from..*at]);
            script.push_str(&self.words[*word]);
            from = *at;
        }
        script.push_str(&self.out.script[from..]);
        (script, self.out.display)
    }
}

/// A delimiter no line of the body is.
fn fresh_delimiter(word: usize, lines: &[String], strip_tabs: bool) -> String {
    (word + 1..)
        .map(|n| format!("MEDGRID_EOF_{n}"))
        .find(|candidate| {
            !lines.iter().any(|line| {
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                line == candidate
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[K]` marks key 0 in the template; the key renders as its context's name.
    fn contexts(template: &str) -> (String, String) {
        let tokens = tokens(template);
        render(&tokens, |_, context| Filled {
            script: format!("<{context:?}>"),
            display: "v".into(),
        })
    }

    fn tokens(template: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[K]") {
                tokens.push(Token::Key(0));
                rest = after;
            } else {
                let c = rest.chars().next().unwrap_or_default();
                tokens.push(Token::Char(c));
                rest = &rest[c.len_utf8()..];
            }
        }
        tokens
    }

    fn script(template: &str) -> String {
        contexts(template).0
    }

    #[test]
    fn quotes() {
        assert_eq!(script("a [K]"), "a <Unquoted>");
        assert_eq!(script("a \"x [K]\""), "a \"x <DoubleQuoted>\"");
        assert_eq!(script("a 'x [K]'"), "a 'x <SingleQuoted>'");
        assert_eq!(script("a \"it's [K]\""), "a \"it's <DoubleQuoted>\"");
        assert_eq!(script("a 'say \"[K]'"), "a 'say \"<SingleQuoted>'");
        assert_eq!(script("a \\\"[K]"), "a \\\"<Unquoted>");
        assert_eq!(script("a \"\\\"[K]\""), "a \"\\\"<DoubleQuoted>\"");
        assert_eq!(
            script("--x=[K] \"[K]\"'[K]'"),
            "--x=<Unquoted> \"<DoubleQuoted>\"'<SingleQuoted>'"
        );
    }

    #[test]
    fn substitutions_start_quoting_afresh() {
        assert_eq!(script("\"$(echo [K])\""), "\"$(echo <Unquoted>)\"");
        assert_eq!(
            script("\"$(echo '[K]') [K]\""),
            "\"$(echo '<SingleQuoted>') <DoubleQuoted>\""
        );
        assert_eq!(
            script("\"`echo [K]` [K]\""),
            "\"`echo <Unquoted>` <DoubleQuoted>\""
        );
        assert_eq!(script("$(a (b) [K]) [K]"), "$(a (b) <Unquoted>) <Unquoted>");
        assert_eq!(
            script("\"${X:-[K]}\" ${X:-'[K]'}"),
            "\"${X:-<DoubleQuoted>}\" ${X:-'<SingleQuoted>'}"
        );
        assert_eq!(
            script("$(( [K] + (1) )) [K]"),
            "$(( <Arithmetic> + (1) )) <Unquoted>"
        );
        assert_eq!(
            script("$(( ${X:-[K]} )) <<E\n${X:-[K]}\nE"),
            "$(( ${X:-<Arithmetic>} )) <<E\n${X:-<HereDoc>}\nE"
        );
    }

    #[test]
    fn comments_are_known_and_a_hash_inside_a_word_is_not_one() {
        assert_eq!(
            script("a#b [K] # don't [K]\n'[K]'"),
            "a#b <Unquoted> # don't <Comment>\n'<SingleQuoted>'"
        );
    }

    #[test]
    fn a_backslash_before_a_key_is_dropped() {
        assert_eq!(
            script("a \\[K] \"\\[K]\""),
            "a <Unquoted> \"<DoubleQuoted>\""
        );
    }

    #[test]
    fn here_documents() {
        assert_eq!(
            script("cat <<EOF > x\n'[K]' \"$(echo [K])\"\nEOF\n'[K]'"),
            "cat <<EOF > x\n'<HereDoc>' \"$(echo <Unquoted>)\"\nEOF\n'<SingleQuoted>'"
        );
        assert_eq!(
            script("cat <<-\"E\"OF; cat <<B\n\tx\n\tEOF\n[K]\nB\n[K]"),
            "cat <<-\"E\"OF; cat <<B\n\tx\n\tEOF\n<HereDoc>\nB\n<Unquoted>"
        );
        // no key in a quoted body: as written
        assert_eq!(script("cat <<'E'\n$x\nE\n"), "cat <<'E'\n$x\nE\n");
        // a key in a quoted body: the script's body expands, its own text escaped
        assert_eq!(
            contexts("cat <<'E' >o\n$x `\\ [K]\nE\n"),
            (
                "cat <<MEDGRID_EOF_1 >o\n\\$x \\`\\\\ <LiteralHereDoc>\nMEDGRID_EOF_1\n".to_owned(),
                "cat <<'E' >o\n$x `\\ v\nE\n".to_owned()
            )
        );
        assert_eq!(
            script("cat <<-'E'\n\tMEDGRID_EOF_1\n[K]\n\tE"),
            "cat <<-MEDGRID_EOF_2\n\tMEDGRID_EOF_1\n<LiteralHereDoc>\n\tMEDGRID_EOF_2"
        );
        // bash's here-string has no body
        assert_eq!(script("cat <<< [K]\n[K]"), "cat <<< <Unquoted>\n<Unquoted>");
    }

    #[test]
    fn blanks_collapse_only_in_unquoted_text() {
        assert_eq!(
            script("a   [K]\t  b  \n  c  \"x   y\" 'p  q'  \n"),
            "a <Unquoted> b\n  c \"x   y\" 'p  q'\n"
        );
        assert_eq!(script("cat <<E\n  a   b  \nE"), "cat <<E\n  a   b  \nE");
        assert_eq!(script("a \\  b"), "a \\  b");
    }

    #[test]
    fn unbalanced_quotes_do_not_panic() {
        for template in [
            "a \"[K]",
            "a '[K]",
            "$( [K]",
            "$(( [K]",
            "${ [K]",
            "cat <<",
            "cat <<'E\n[K]",
            "\\",
        ] {
            let _ = script(template);
        }
    }
}
