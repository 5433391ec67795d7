//! Table-driven: shell scripts through the busybox image's `sh -c` inside a real pod, compared
//! with what busybox prints and the status it exits with. All cases run as containers of one pod.

use std::collections::BTreeMap;

use crate::support::*;

/// (script, expected stdout, expected exit status)
const CASES: &[(&str, &str, i64)] = &[
    // quoting, expansion, parameters
    ("echo hello world", "hello world", 0),
    ("echo 'single $HOME' \"double\"", "single $HOME double", 0),
    ("A=1; B=\"$A two\"; echo \"$B\"", "1 two", 0),
    ("echo ${UNSET:-fallback} ${UNSET:+x}end", "fallback end", 0),
    ("X=abc; echo ${#X} ${X}", "3 abc", 0),
    (
        "echo $((3 * (4 + 5) % 7)) $((10 / 3)) $((2 > 1))",
        "6 3 1",
        0,
    ),
    ("i=5; i=$((i - 1)); echo $i", "4", 0),
    ("echo $(echo inner) `echo back`", "inner back", 0),
    ("set -- a b c; echo $# $2 \"$@\"", "3 b a b c", 0),
    ("set -- x y; shift; echo $1 $#", "y 1", 0),
    (
        "f() { echo \"args:$#:$1\"; return 4; }; f one two; echo $?",
        "args:2:one\n4",
        0,
    ),
    ("false; echo $?", "1", 0),
    ("echo a\\ b \"c\\\"d\"", "a b c\"d", 0),
    (
        "IFS=:; X=a:b:c; for p in $X; do echo $p; done",
        "a\nb\nc",
        0,
    ),
    // lists, conditionals, loops
    ("true && echo yes || echo no", "yes", 0),
    ("false && echo yes || echo no", "no", 0),
    ("! false && echo negated", "negated", 0),
    (
        "if [ 2 -gt 1 ]; then echo big; elif true; then echo mid; else echo small; fi",
        "big",
        0,
    ),
    (
        "if false; then :; elif [ a = a ]; then echo elif; fi",
        "elif",
        0,
    ),
    ("for i in 1 2 3; do echo $i; done", "1\n2\n3", 0),
    (
        "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo w$i; done",
        "w1\nw2\nw3",
        0,
    ),
    (
        "i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i",
        "2",
        0,
    ),
    (
        "for i in 1 2 3 4; do [ $i = 3 ] && break; echo $i; done",
        "1\n2",
        0,
    ),
    (
        "for i in 1 2 3; do [ $i = 2 ] && continue; echo $i; done",
        "1\n3",
        0,
    ),
    (
        "case foo.txt in *.md) echo md;; *.txt|*.text) echo text;; esac",
        "text",
        0,
    ),
    ("case x in y) echo y;; *) echo default;; esac", "default", 0),
    ("(X=sub; echo $X); echo ${X:-outer}", "sub\nouter", 0),
    ("{ echo grouped; echo twice; } | wc -l", "2", 0),
    // redirections and here-documents
    (
        "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f",
        "one\ntwo",
        0,
    ),
    ("cat < /tmp/nope 2>/dev/null || echo missing", "missing", 0),
    ("echo to-stderr >&2; echo out", "out", 0),
    ("ls /nonexistent 2>&1 | grep -c 'No such file'", "1", 0),
    ("cat <<EOF\nhello $HOSTNAME\nEOF", "hello bb-table", 0),
    (
        "cat <<'EOF'\nliteral $HOSTNAME\nEOF",
        "literal $HOSTNAME",
        0,
    ),
    // exit statuses and errors
    ("exit 7", "", 7),
    ("nosuchcmd", "", 127),
    ("set -e; false; echo not reached", "", 1),
    ("sh -c 'exit 5'; echo $?", "5", 0),
    ("trap 'echo bye' EXIT; echo hi", "hi\nbye", 0),
    // applets
    ("printf '%s-%03d|%x\\n' a 7 255", "a-007|ff", 0),
    ("printf '%s\\n' x y", "x\ny", 0),
    ("seq 1 3 | tr '\\n' ' '; echo", "1 2 3 ", 0),
    ("seq 5 | head -n 2; seq 5 | tail -n 1", "1\n2\n5", 0),
    (
        "printf 'b\\na\\nb\\nc\\n' | sort | uniq -c | tr -s ' ' | sed 's/^ //'",
        "1 a\n2 b\n1 c",
        0,
    ),
    (
        "printf '3\\n10\\n2\\n' | sort -n | tr '\\n' ,; echo",
        "2,3,10,",
        0,
    ),
    ("echo 'a,b,c' | cut -d, -f2", "b", 0),
    ("echo hello | sed 's/l/L/g'", "heLLo", 0),
    ("printf 'x\\ny\\nz\\n' | sed -n '2p'", "y", 0),
    ("printf 'keep\\ndrop\\n' | sed '/drop/d'", "keep", 0),
    ("echo HeLLo | tr 'A-Z' 'a-z'", "hello", 0),
    ("printf 'a\\nB\\nc\\n' | grep -i b", "B", 0),
    ("printf 'a\\nb\\n' | grep -v a", "b", 0),
    ("echo abc | grep -q z; echo $?", "1", 0),
    (
        "echo 'x1 y22' | grep -o '[0-9][0-9]*' | tr '\\n' ' '; echo",
        "1 22 ",
        0,
    ),
    ("printf 'one two\\nthree\\n' | wc -w", "3", 0),
    ("echo -n abc | wc -c", "3", 0),
    ("expr 3 + 4; expr length hello", "7\n5", 0),
    ("basename /a/b/c.txt .txt; dirname /a/b/c.txt", "c\n/a/b", 0),
    (
        "mkdir -p /tmp/d/e && touch /tmp/d/e/f && ls /tmp/d/e",
        "f",
        0,
    ),
    (
        "mkdir -p /tmp/g && echo x > /tmp/g/a && cp /tmp/g/a /tmp/g/b && mv /tmp/g/b /tmp/g/c && ls /tmp/g | tr '\\n' ' '; echo",
        "a c ",
        0,
    ),
    (
        "mkdir -p /tmp/r/s && rm -rf /tmp/r && [ ! -e /tmp/r ] && echo gone",
        "gone",
        0,
    ),
    (
        "mkdir -p /tmp/h/i && touch /tmp/h/i/j.txt && find /tmp/h -name '*.txt'",
        "/tmp/h/i/j.txt",
        0,
    ),
    (
        "echo a b c | xargs -n 1 echo item",
        "item a\nitem b\nitem c",
        0,
    ),
    (
        "echo -n abc | md5sum",
        "900150983cd24fb0d6963f7d28e17f72  -",
        0,
    ),
    (
        "echo -n abc | sha256sum",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -",
        0,
    ),
    ("date -u -d @0 +%Y-%m-%dT%H:%M:%S", "1970-01-01T00:00:00", 0),
    (
        "[ -d /tmp ] && [ -f /etc/hostname ] && [ -z '' ] && [ -n x ] && echo tests",
        "tests",
        0,
    ),
    ("test 3 -eq 3 -a abc != abd && echo ok", "ok", 0),
    ("env | grep -c '^HOSTNAME=bb-table$'", "1", 0),
    (
        "echo $PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        0,
    ),
    ("hostname; cat /etc/hostname", "bb-table\nbb-table", 0),
    ("yes | head -n 2", "y\ny", 0),
    ("seq 1 400000 | wc -l", "400000", 0),
    ("yes abcdefghi | head -c 10000000 | wc -c", "10000000", 0),
    ("sleep 0.1; echo slept", "slept", 0),
    ("id -u", "0", 0),
];

#[test]
fn busybox_scripts_behave_like_busybox() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let mut manifest = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bb-table}\nspec:\n  restartPolicy: Never\n  containers:\n",
    );
    for (i, (script, _, _)) in CASES.iter().enumerate() {
        manifest.push_str(&format!(
            "  - name: c{i:03}\n    image: busybox\n    command: [sh, -c, {}]\n",
            serde_json::to_string(script).expect("json")
        ));
    }
    let s = Scratch::new("bb-table");
    let file = s.write("pod.yaml", &manifest);
    // Without -o, container stdout is wpod's stdout: stderr lines stay out of the comparison.
    let r = run_args(&[
        "run",
        "--color",
        "never",
        "--timeout",
        "60s",
        &file.to_string_lossy(),
    ]);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in r.stdout.lines() {
        if let Some((name, text)) = line.split_once(" | ") {
            out.entry(name.to_string())
                .or_default()
                .push(text.to_string());
        }
    }
    let exit_of = |name: &str| {
        let marker = format!("-- bb-table/{name}: exited with code ");
        r.stderr.lines().find_map(|l| {
            l.strip_prefix(&marker)?
                .split_whitespace()
                .next()?
                .parse::<i64>()
                .ok()
        })
    };
    let mut failures = Vec::new();
    for (i, (script, want, status)) in CASES.iter().enumerate() {
        let name = format!("c{i:03}");
        let got = out.get(&name).map(|l| l.join("\n")).unwrap_or_default();
        let code = exit_of(&name);
        if got != *want || code != Some(*status) {
            failures.push(format!(
                "{name}: {script:?}\n    want {want:?} (exit {status})\n    got  {got:?} (exit {code:?})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
