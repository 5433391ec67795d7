//! The syntax tree of shell scripts.

use std::rc::Rc;

/// A piece of a word, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Unquoted text: subject to globbing (and tilde expansion at the start of a word).
    Lit(String),
    /// Quoted or escaped text.
    Quoted(String),
    Param(Box<Param>),
    /// `$(...)` or backquotes: the source of the command.
    Cmd(String),
    /// `$((...))`: the expression, itself expanded before it is evaluated.
    Arith(Vec<Part>),
    /// A double-quoted string.
    Dq(Vec<Part>),
}

pub type Word = Vec<Part>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum POp {
    Plain,
    Len,
    Default,
    Assign,
    Alt,
    Error,
    TrimSuffix,
    TrimSuffixLong,
    TrimPrefix,
    TrimPrefixLong,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub op: POp,
    /// `:-` rather than `-`: an empty value counts as unset.
    pub colon: bool,
    pub word: Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    In,
    Out,
    Append,
    DupIn,
    DupOut,
    ReadWrite,
    HereDoc,
    /// `&>file`: stdout and stderr.
    OutErr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redir {
    pub fd: Option<u32>,
    pub op: RedirOp,
    pub target: Word,
    /// For here-documents: the body, and whether it is expanded.
    pub body: Option<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Simple(Simple),
    Pipeline(Vec<Node>, bool),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    /// Commands separated by `;`, `&` or newlines; the flag is "run in the background".
    List(Vec<(Node, bool)>),
    Group(Box<Node>),
    Subshell(Box<Node>),
    If(Vec<(Node, Node)>, Option<Box<Node>>),
    Loop {
        cond: Box<Node>,
        body: Box<Node>,
        until: bool,
    },
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: Box<Node>,
    },
    Case(Word, Vec<(Vec<Word>, Node)>),
    Func(String, Rc<Node>),
    Redirected(Box<Node>, Vec<Redir>),
}
