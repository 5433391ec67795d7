//! In-process tests of the shell: scripts run with captured stdout/stderr.

use super::sh_main;
use crate::io::{Ctx, Fd};

fn run_in(script: &str, stdin: &str, cwd: &std::path::Path) -> (String, String, i32) {
    let (out, op) = Fd::pipe(usize::MAX);
    let (err, ep) = Fd::pipe(usize::MAX);
    let mut ctx = Ctx {
        stdin: Fd::mem(stdin.as_bytes().to_vec()),
        stdout: out,
        stderr: err,
        env: vec![
            ("HOME".into(), "/root".into()),
            ("PATH".into(), "/bin:/usr/bin".into()),
            ("HOSTNAME".into(), "pod-1".into()),
        ],
        cwd: cwd.to_path_buf(),
    };
    let st = sh_main(&mut ctx, &["-c".to_string(), script.to_string()]);
    let o = String::from_utf8_lossy(&op.borrow().buf).into_owned();
    let e = String::from_utf8_lossy(&ep.borrow().buf).into_owned();
    (o, e, st)
}

fn run(script: &str) -> (String, String, i32) {
    run_in(script, "", &std::env::temp_dir())
}

fn out(script: &str) -> String {
    let (o, e, _) = run(script);
    assert!(e.is_empty(), "stderr for {script:?}: {e}");
    o
}

struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "bbsh-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn echo_and_lists() {
    assert_eq!(out("echo hello world"), "hello world\n");
    assert_eq!(out("echo a; echo b"), "a\nb\n");
    assert_eq!(out("true && echo yes || echo no"), "yes\n");
    assert_eq!(out("false && echo yes || echo no"), "no\n");
    assert_eq!(out("! false && echo negated"), "negated\n");
    assert_eq!(out("echo -n a; echo -e 'b\\tc'"), "ab\tc\n");
    assert_eq!(run("exit 3").2, 3);
    assert_eq!(run("false").2, 1);
    let (o, e, st) = run("nosuchcmd");
    assert_eq!(
        (o.as_str(), e.as_str(), st),
        ("", "sh: nosuchcmd: not found\n", 127)
    );
}

#[test]
fn variables_and_expansions() {
    assert_eq!(out("x=1; y=\"$x 2\"; echo $y ${y}"), "1 2 1 2\n");
    assert_eq!(out("echo ${u:-def} ${u-d2} ${#HOME}"), "def d2 5\n");
    assert_eq!(out("echo ${u:=set}; echo $u"), "set\nset\n");
    assert_eq!(out("x=v; echo ${x:+alt} ${nope:+alt}."), "alt .\n");
    assert_eq!(
        out("f=archive.tar.gz; echo ${f%.gz} ${f%%.*} ${f#*.} ${f##*.}"),
        "archive.tar archive tar.gz gz\n"
    );
    assert_eq!(
        out("echo $((1 + 2 * 3)) $((10 / 3)) $((7 % 4)) $((2 > 1 && 0 || 1))"),
        "7 3 3 1\n"
    );
    assert_eq!(
        out("i=5; i=$((i+1)); echo $i; : $((i+=2)); echo $i"),
        "6\n8\n"
    );
    assert_eq!(out("echo $(echo inner) `echo back`"), "inner back\n");
    assert_eq!(out("echo \"$(echo 'a  b')\""), "a  b\n");
    assert_eq!(
        out("x='a  b'; for w in $x; do echo [$w]; done"),
        "[a]\n[b]\n"
    );
    assert_eq!(
        out("x='a:b'; IFS=:; for w in $x; do echo $w; done"),
        "a\nb\n"
    );
    assert_eq!(out("echo '$x' \"\\$x\" \\$x"), "$x $x $x\n");
    assert_eq!(out("echo ~"), "/root\n");
    assert_eq!(out("x=; echo \"[$x]\" [$x]"), "[] []\n");
    let (_, e, st) = run("echo ${nope:?is missing}");
    assert_eq!((e.as_str(), st), ("sh: nope: is missing\n", 2));
    let (_, e, st) = run("set -u; echo $nope");
    assert!(e.contains("nope: parameter not set") && st == 2, "{e}");
    let (o, e, st) = run("echo $((3/0)); echo after");
    assert_eq!(
        (o.as_str(), e.as_str(), st),
        ("", "sh: divide by zero\n", 2)
    );
}

#[test]
fn positional_parameters() {
    assert_eq!(
        out("set -- a 'b c' d; echo $#; echo $1; echo $2; for a in \"$@\"; do echo [$a]; done"),
        "3\na\nb c\n[a]\n[b c]\n[d]\n"
    );
    assert_eq!(
        out("set -- a b; echo \"$*\"; shift; echo $1 $#"),
        "a b\nb 1\n"
    );
    assert_eq!(
        out("set -- 1 2 3 4 5 6 7 8 9 10 11; echo ${10} ${11}"),
        "10 11\n"
    );
    assert_eq!(out("set -- x y; for a; do echo $a; done"), "x\ny\n");
    assert_eq!(out("f() { echo $# $1; }; f \"$@\""), "0\n");
    let (o, _, _) = {
        let (out_fd, op) = Fd::pipe(usize::MAX);
        let mut ctx = Ctx {
            stdin: Fd::Null,
            stdout: out_fd,
            stderr: Fd::Null,
            env: vec![],
            cwd: std::env::temp_dir(),
        };
        let args: Vec<String> = ["-c", "echo $0 $1 $2", "name", "a1", "a2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let st = sh_main(&mut ctx, &args);
        let o = String::from_utf8_lossy(&op.borrow().buf).into_owned();
        (o, String::new(), st)
    };
    assert_eq!(o, "name a1 a2\n");
}

#[test]
fn control_flow() {
    assert_eq!(out("for i in 1 2 3; do echo $i; done"), "1\n2\n3\n");
    assert_eq!(
        out("i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done"),
        "0\n1\n2\n"
    );
    assert_eq!(
        out("i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i"),
        "2\n"
    );
    assert_eq!(
        out("if false; then echo a; elif true; then echo b; else echo c; fi"),
        "b\n"
    );
    assert_eq!(
        out("for i in 1 2 3 4; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done"),
        "1\n3\n"
    );
    assert_eq!(
        out("for i in 1 2; do for j in a b; do [ $j = b ] && continue 2; echo $i$j; done; done"),
        "1a\n2a\n"
    );
    assert_eq!(
        out("while true; do while true; do break 2; done; done; echo out"),
        "out\n"
    );
    assert_eq!(
        out("case hello.txt in *.sh) echo sh;; *.txt|*.md) echo text;; *) echo other;; esac"),
        "text\n"
    );
    assert_eq!(
        out("x=b; case $x in a) echo A;; [bc]) echo BC;; esac"),
        "BC\n"
    );
    assert_eq!(out("case '*' in \\*) echo star;; esac"), "star\n");
    assert_eq!(
        out("case x in\n  y)\n    echo no\n    ;;\n  *)\n    echo yes\n    ;;\nesac"),
        "yes\n"
    );
}

#[test]
fn functions_and_locals() {
    assert_eq!(
        out("greet() { echo \"Hello, $1\"; return 3; }; greet you; echo $?"),
        "Hello, you\n3\n"
    );
    assert_eq!(
        out("x=g; f() { local x=l; echo $x; }; f; echo $x"),
        "l\ng\n"
    );
    assert_eq!(
        out(
            "fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1-1))) )); fi; }; fact 5"
        ),
        "120\n"
    );
    assert_eq!(
        out("f() { for i in 1 2 3; do [ $i = 2 ] && return 0; echo $i; done; }; f"),
        "1\n"
    );
    assert_eq!(out("f()\n{\n  echo multi\n}\nf"), "multi\n");
}

#[test]
fn subshells_and_groups() {
    assert_eq!(out("x=1; (x=2; echo $x); echo $x"), "2\n1\n");
    assert_eq!(out("cd /; (cd /tmp; pwd); pwd"), "/tmp\n/\n");
    assert_eq!(out("{ echo a; echo b; } | wc -l"), "2\n");
    assert_eq!(out("x=$(exit 4); echo $?"), "4\n");
    assert_eq!(out("(exit 5); echo $?"), "5\n");
    assert_eq!(out("sleep 0 & echo bg; wait $!; echo $?"), "bg\n0\n");
}

#[test]
fn pipelines() {
    assert_eq!(out("echo hello | tr a-z A-Z"), "HELLO\n");
    assert_eq!(out("printf 'b\\na\\nc\\n' | sort | head -n 2"), "a\nb\n");
    assert_eq!(out("yes | head -n 3"), "y\ny\ny\n");
    assert_eq!(out("yes hi | head -n 2; echo ${?}"), "hi\nhi\n0\n");
    assert_eq!(out("seq 1 100000 | wc -l"), "100000\n");
    assert_eq!(out("echo x | false; echo $?"), "1\n");
    assert_eq!(out("false | true; echo $?"), "0\n");
    assert_eq!(out("! echo x | grep -q y; echo $?"), "0\n");
    let long = "x".repeat(500);
    assert_eq!(
        out(&format!(
            "while true; do echo {long}; done | head -n 2 | wc -l"
        )),
        "2\n"
    );
    assert_eq!(out("echo a b c | { read x y; echo $y; }"), "b c\n");
    assert_eq!(
        out("printf '1\\n2\\n' | while read n; do echo n=$n; done"),
        "n=1\nn=2\n"
    );
}

#[test]
fn redirections_and_heredocs() {
    let d = TempDir::new("redir");
    let (o, e, st) = run_in(
        "echo one > f; echo two >> f; cat f; cat < f | wc -l; ls nope 2>/dev/null || echo failed; echo err >&2; echo both 2>&1",
        "",
        &d.0,
    );
    assert_eq!(o, "one\ntwo\n2\nfailed\nboth\n");
    assert_eq!(e, "err\n");
    assert_eq!(st, 0);
    let (o, _, _) = run_in(
        "{ echo out; echo err >&2; } > all 2>&1; cat all; exec 3>f3; echo x >&3; cat f3",
        "",
        &d.0,
    );
    assert_eq!(o, "out\nerr\nx\n");
    let (o, e, st) = run_in("echo x > /nonexistent/dir/f", "", &d.0);
    assert_eq!(
        (o.as_str(), e.as_str(), st),
        (
            "",
            "sh: can't create /nonexistent/dir/f: nonexistent directory\n",
            1
        )
    );
    assert_eq!(
        out("x=World; cat <<EOF\nHello $x\n  $(echo sub)\nEOF"),
        "Hello World\n  sub\n"
    );
    assert_eq!(out("cat <<'EOF'\n$x `y`\nEOF"), "$x `y`\n");
    assert_eq!(
        out("cat <<-EOF\n\tindented\n\tEOF\necho after"),
        "indented\nafter\n"
    );
    assert_eq!(out("cat <<A; cat <<B\na\nA\nb\nB"), "a\nb\n");
    assert_eq!(
        out("while read l; do echo \"<$l>\"; done <<EOF\nx y\nz\nEOF"),
        "<x y>\n<z>\n"
    );
}

#[test]
fn builtins() {
    assert_eq!(out("printf '%s=%d\\n' a 1 b 2"), "a=1\nb=2\n");
    assert_eq!(
        out("[ -z '' ] && [ 1 -lt 2 ] && test abc = abc && echo ok"),
        "ok\n"
    );
    assert_eq!(out("read a b <<EOF\n1 2 3\nEOF\necho $a/$b"), "1/2 3\n");
    assert_eq!(out("eval 'x=5; echo $x'"), "5\n");
    assert_eq!(out("export A=1; env | grep '^A='"), "A=1\n");
    assert_eq!(out("B=2 printenv B; echo [$B]"), "2\n[]\n");
    assert_eq!(out("unset HOME; echo [$HOME]"), "[]\n");
    let (o, e, _) = run("readonly R=1; R=2; echo $R");
    assert_eq!((o.as_str(), e.as_str()), ("", "sh: R: is read only\n"));
    assert_eq!(
        out("type echo; command -v ls; command -v nope || echo none"),
        "echo is a shell builtin\n/bin/ls\nnone\n"
    );
    assert_eq!(out("trap 'echo bye' EXIT; echo hi"), "hi\nbye\n");
    assert_eq!(out("trap 'echo bye' EXIT; exit 0"), "bye\n");
    assert_eq!(
        out("trap 'echo term' TERM; trap"),
        "trap -- 'echo term' TERM\n"
    );
    assert_eq!(run("exec false; echo never").2, 1);
    assert_eq!(
        out("cd /; pwd; cd /tmp && pwd; cd - >/dev/null; pwd"),
        "/\n/tmp\n/\n"
    );
    let (_, e, st) = run("cd /nonexistent");
    assert_eq!(
        (e.as_str(), st),
        (
            "sh: cd: can't cd to /nonexistent: No such file or directory\n",
            2
        )
    );
    assert_eq!(out("echo $(( $$ > 0 ))"), "1\n");
    assert_eq!(out("getopts ab: o -b val; echo $o $OPTARG"), "b val\n");
}

#[test]
fn set_options() {
    let (o, _, st) = run("set -e; echo a; false; echo b");
    assert_eq!((o.as_str(), st), ("a\n", 1));
    assert_eq!(
        out("set -e; if false; then :; fi; false || true; ! true; x=1 && false || echo ok"),
        "ok\n"
    );
    let (o, _, st) = run("set -e; f() { false; echo no; }; f; echo no2");
    assert_eq!((o.as_str(), st), ("", 1));
    let (o, e, _) = run("set -x; echo hi 'a b'");
    assert_eq!(o, "hi a b\n");
    assert_eq!(e, "+ echo hi 'a b'\n");
    let (_, e, st) = run("if true; then");
    assert!(e.starts_with("sh: syntax error") && st == 2, "{e}");
}

#[test]
fn globbing() {
    let d = TempDir::new("glob");
    for f in ["a.txt", "b.txt", "c.log"] {
        std::fs::write(d.0.join(f), "x").unwrap();
    }
    let (o, _, _) = run_in(
        "echo *.txt; echo *.none; echo '*.txt'; set -f; echo *.txt",
        "",
        &d.0,
    );
    assert_eq!(o, "a.txt b.txt\n*.none\n*.txt\n*.txt\n");
    let (o, _, _) = run_in("for f in *; do echo $f; done | wc -l; ls", "", &d.0);
    assert_eq!(o, "3\na.txt\nb.txt\nc.log\n");
}

#[test]
fn stdin_script() {
    let (o, _, st) = {
        let (out_fd, op) = Fd::pipe(usize::MAX);
        let mut ctx = Ctx {
            stdin: Fd::mem(
                b"echo one\nfor i in 1 2\ndo\necho $i\ndone\nexit 7\necho never\n".to_vec(),
            ),
            stdout: out_fd,
            stderr: Fd::Null,
            env: vec![],
            cwd: std::env::temp_dir(),
        };
        let st = sh_main(&mut ctx, &[]);
        let o = String::from_utf8_lossy(&op.borrow().buf).into_owned();
        (o, String::new(), st)
    };
    assert_eq!((o.as_str(), st), ("one\n1\n2\n", 7));
}

#[test]
fn scripts_from_files() {
    let d = TempDir::new("script");
    std::fs::write(
        d.0.join("s.sh"),
        "#!/bin/sh\necho \"script $1 $#\"\nexit 4\n",
    )
    .unwrap();
    std::fs::write(d.0.join("lib.sh"), "LIBVAR=loaded\n").unwrap();
    let (o, _, st) = run_in(
        "sh s.sh a b; echo $?; ./s.sh x; . ./lib.sh; echo $LIBVAR",
        "",
        &d.0,
    );
    assert_eq!(o, "script a 2\n4\nscript x 1\nloaded\n");
    assert_eq!(st, 0);
    let (_, e, st) = run_in("./missing.sh", "", &d.0);
    assert_eq!((e.as_str(), st), ("sh: ./missing.sh: not found\n", 127));
    let (_, e, st) = run_in("sh missing.sh", "", &d.0);
    assert_eq!(
        (e.as_str(), st),
        (
            "sh: can't open 'missing.sh': No such file or directory\n",
            127
        )
    );
}
