//! Just enough POSIX shell for CIC-GATE: a script is cut into simple
//! commands at the control operators outside quotes, `$( )` and backticks
//! (newline, `;`, `&`, `&&`, `||`, `|`, `|&`), here-documents skipped,
//! `\`-newline joined, `#` comments dropped; each command's words come from
//! [`shlex`]. Leading reserved words (`if`, `then`, `!`, `{`, …) and
//! variable assignments are taken off and remembered, so `if ! certify;
//! then exit 1; fi` reads as a negated condition followed by `exit 1`.

/// The control operator after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `;`, a newline, or the end of the script.
    Seq,
    /// `&`: the command runs in the background.
    Background,
    And,
    Or,
    /// `|` or `|&`: its output feeds the next command.
    Pipe,
}

/// One simple command.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    /// The words, reserved words and assignments in front taken off.
    pub words: Vec<String>,
    /// The command's own text, trimmed.
    pub text: String,
    /// 0-based line of the script it starts on.
    pub line: usize,
    /// Reserved words in front (`if`, `!`, `then`, `elif`, …).
    pub keywords: Vec<String>,
    /// The operator after it.
    pub op: Op,
    /// A compound command ends right after it (`fi`, `done`, `}`, `esac`).
    pub closes: bool,
}

impl Cmd {
    /// Its status is tested by `if` / `elif` / `while` / `until` (errexit off).
    pub fn in_condition(&self) -> bool {
        self.keywords
            .iter()
            .any(|k| matches!(k.as_str(), "if" | "elif" | "while" | "until"))
    }

    pub fn negated(&self) -> bool {
        self.keywords.iter().filter(|k| *k == "!").count() % 2 == 1
    }

    /// `exit N` with N ≠ 0 (or a variable), `exit` alone after a failure, `false`, `return N`.
    pub fn fails(&self) -> bool {
        match self.words.first().map(String::as_str) {
            Some("false") => true,
            Some("exit" | "return") => self.words.get(1).is_none_or(|a| a != "0"),
            _ => false,
        }
    }

    /// `true`, `:`, `exit 0`: a command that always succeeds.
    pub fn succeeds(&self) -> bool {
        match self.words.first().map(String::as_str) {
            Some("true" | ":") => true,
            Some("exit" | "return") => self.words.get(1).is_some_and(|a| a == "0"),
            _ => false,
        }
    }
}

const RESERVED: [&str; 12] = [
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "(", "time", "exec",
];

/// Split `script` into simple commands.
pub fn parse(script: &str) -> Vec<Cmd> {
    let mut lx = Lexer {
        chars: script.chars().collect(),
        ..Lexer::default()
    };
    while lx.i < lx.chars.len() {
        if lx.cur.trim().is_empty() {
            lx.cur_line = lx.line;
        }
        lx.step();
    }
    lx.flush(Op::Seq);
    lx.out
}

/// The state of [`parse`] between characters.
#[derive(Debug, Default)]
struct Lexer {
    chars: Vec<char>,
    i: usize,
    /// 0-based line of `chars[i]`.
    line: usize,
    /// The command being read, and the line it started on.
    cur: String,
    cur_line: usize,
    out: Vec<Cmd>,
    /// Here-document delimiters whose bodies start at the next newline.
    heredocs: Vec<String>,
    squote: bool,
    dquote: bool,
    backtick: bool,
    /// `$(` nesting.
    depth: usize,
    /// Reserved words on their own (`then` after `if x;`), for the next command.
    pending: Vec<String>,
}

impl Lexer {
    fn next(&self) -> Option<char> {
        self.chars.get(self.i + 1).copied()
    }

    /// Read one character (or operator); advances `i`.
    fn step(&mut self) {
        let c = self.chars[self.i];
        let next = self.next();
        if self.quoted(c, next) {
            self.i += 1;
            return;
        }
        match (c, next) {
            ('#', _) if self.cur.chars().last().is_none_or(char::is_whitespace) => {
                while self.i < self.chars.len() && self.chars[self.i] != '\n' {
                    self.i += 1;
                }
                return;
            }
            ('\n', _) => return self.newline(),
            ('<', Some('<')) if self.chars.get(self.i + 2) != Some(&'<') => self.heredoc(),
            (';', _) => {
                self.flush(Op::Seq);
                self.i += usize::from(next == Some(';'));
            }
            ('&', Some('&')) => self.operator(Op::And, 2),
            ('|', Some('|')) => self.operator(Op::Or, 2),
            ('|', Some('&')) => self.operator(Op::Pipe, 2),
            ('|', _) => self.operator(Op::Pipe, 1),
            ('&', _)
                if !(self.cur.ends_with('>') || self.cur.ends_with('<') || next == Some('>')) =>
            {
                self.flush(Op::Background);
            }
            _ => self.cur.push(c),
        }
        self.i += 1;
    }

    /// Quotes, escapes, `$( )` and backticks: kept in the word, never split.
    fn quoted(&mut self, c: char, next: Option<char>) -> bool {
        if self.squote {
            self.squote = c != '\'';
        } else if c == '\\' && next.is_some() {
            if next == Some('\n') {
                self.line += 1;
            } else {
                self.cur.push(c);
                self.cur.push(self.chars[self.i + 1]);
            }
            self.i += 1;
            return true;
        } else if self.dquote {
            self.dquote = c != '"';
        } else if c == '\'' {
            self.squote = true;
        } else if c == '"' {
            self.dquote = true;
        } else if c == '`' {
            self.backtick = !self.backtick;
        } else if c == '$' && next == Some('(') {
            self.depth += 1;
            self.cur.push('$');
            self.i += 1;
        } else if c == ')' && self.depth > 0 {
            self.depth -= 1;
        } else if !(self.depth > 0 || self.backtick) {
            return false;
        }
        self.cur.push(self.chars[self.i]);
        true
    }

    /// End the command at an operator `len` characters long.
    fn operator(&mut self, op: Op, len: usize) {
        self.flush(op);
        self.i += len - 1;
    }

    /// A newline ends the command; here-document bodies after it are skipped.
    fn newline(&mut self) {
        self.flush(Op::Seq);
        self.line += 1;
        self.i += 1;
        for tag in std::mem::take(&mut self.heredocs) {
            while self.i < self.chars.len() {
                let end = self.chars[self.i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(self.chars.len(), |p| self.i + p);
                let text: String = self.chars[self.i..end].iter().collect();
                self.i = (end + 1).min(self.chars.len());
                self.line += 1;
                if text.trim() == tag {
                    break;
                }
            }
        }
    }

    /// `<<TAG` / `<<-'TAG'`: remember the delimiter.
    fn heredoc(&mut self) {
        let rest: String = self.chars[self.i + 2..]
            .iter()
            .take_while(|&&c| c != '\n')
            .collect();
        let tag: String = rest
            .trim_start_matches('-')
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace() && !";&|)".contains(*c))
            .filter(|c| !"'\"\\".contains(*c))
            .collect();
        if !tag.is_empty() {
            self.heredocs.push(tag);
        }
        self.cur.push_str("<<");
        self.i += 1;
    }

    /// End the current command with `op` after it.
    fn flush(&mut self, op: Op) {
        let words: Vec<&str> = self.cur.split_whitespace().collect();
        if let Some(mut c) = command(&self.cur, self.cur_line, op) {
            let mut keywords = std::mem::take(&mut self.pending);
            keywords.append(&mut c.keywords);
            c.keywords = keywords;
            self.out.push(c);
        } else if !words.is_empty() && words.iter().all(|w| RESERVED.contains(w)) {
            self.pending.extend(words.iter().map(|w| w.to_string()));
        } else if let Some(last) = self.out.last_mut() {
            last.closes |= !self.cur.trim().is_empty();
            if op != Op::Seq {
                // `fi || true`: the operator belongs to the compound before it.
                last.op = op;
            }
        }
        self.cur.clear();
    }
}

/// One simple command from its text; `None` when only reserved words remain.
fn command(text: &str, line: usize, op: Op) -> Option<Cmd> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut words =
        shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_string).collect());
    let mut keywords = Vec::new();
    loop {
        match words.first() {
            Some(w) if RESERVED.contains(&w.as_str()) => keywords.push(words.remove(0)),
            Some(w) if w.starts_with('(') && w.len() > 1 => {
                keywords.push("(".into());
                words[0] = w[1..].to_string();
            }
            Some(w) if is_assignment(w) && words.len() > 1 => {
                words.remove(0);
            }
            _ => break,
        }
    }
    let mut closes = false;
    while words
        .last()
        .is_some_and(|w| matches!(w.as_str(), "fi" | "done" | "}" | ")" | "esac"))
    {
        words.pop();
        closes = true;
    }
    if let Some(last) = words.last_mut()
        && last.ends_with(')')
        && !last.contains('(')
    {
        last.pop();
    }
    if words.is_empty() || matches!(words[0].as_str(), "fi" | "done" | "}" | ")" | "esac") {
        return None;
    }
    Some(Cmd {
        words,
        text: text.to_string(),
        line,
        keywords,
        op,
        closes,
    })
}

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(s: &str) -> Vec<(Vec<String>, Op)> {
        parse(s).into_iter().map(|c| (c.words, c.op)).collect()
    }

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn operators_quotes_and_heredocs() {
        assert_eq!(
            ops("a x&&b 'y;z' || c; d & e | f 2>&1\n# note\ng"),
            vec![
                (w("a x"), Op::And),
                (vec!["b".into(), "y;z".into()], Op::Or),
                (w("c"), Op::Seq),
                (w("d"), Op::Background),
                (w("e"), Op::Pipe),
                (w("f 2>&1"), Op::Seq),
                (w("g"), Op::Seq),
            ]
        );
        let c = parse("cat <<EOF\nkubectl apply -f x\nEOF\necho \"$(a || b)\" \\\n  x");
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[1].words, vec!["echo", "$(a || b)", "x"]);
        assert_eq!(c[1].line, 3);
        let c = parse("if ! FOO=1 agentops-cockpit certify; then exit 1; fi");
        assert!(c[0].in_condition() && c[0].negated(), "{c:?}");
        assert_eq!(c[0].words[0], "agentops-cockpit");
        assert!(c[1].fails());
    }

    #[test]
    fn broken_input_does_not_panic() {
        for s in [
            "echo 'unterminated",
            "echo \"unterminated",
            "cat <<",
            "cat <<EOF",
            "x \\",
            "echo $(unclosed",
            ") ; ;; && || | & fi done }",
            "`",
            "<<<",
            "if",
        ] {
            let _ = parse(s);
        }
    }
}
