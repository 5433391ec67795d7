//! "Did you mean …?" for misspelled field names.

/// The candidate `word` was most likely meant to be, if any is close enough.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let folded = fold(word);
    // Case and separator slips (`restartpolicy`, `image_pull_policy`) are the
    // commonest mistakes and are unambiguous, so they win outright.
    if let Some(exact) = candidates.iter().find(|c| fold(c) == folded) {
        return Some(exact);
    }
    let budget = match folded.len() {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (distance(&folded, &fold(c)), *c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn fold(word: &str) -> Vec<char> {
    word.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent transpositions,
/// which covers the usual typing slips.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(prev2[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER: &[&str] = &["name", "image", "imagePullPolicy", "ports", "env", "args"];

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("imagePullPolcy", CONTAINER),
            Some("imagePullPolicy")
        );
        assert_eq!(
            did_you_mean("imagePullPolicyy", CONTAINER),
            Some("imagePullPolicy")
        );
        assert_eq!(did_you_mean("imgae", CONTAINER), Some("image"));
        assert_eq!(
            did_you_mean("restartpolicy", &["restartPolicy"]),
            Some("restartPolicy")
        );
        assert_eq!(
            did_you_mean("image_pull_policy", CONTAINER),
            Some("imagePullPolicy")
        );
        assert_eq!(did_you_mean("Args", CONTAINER), Some("args"));
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(did_you_mean("replicas", CONTAINER), None);
        assert_eq!(did_you_mean("foo", CONTAINER), None);
    }

    #[test]
    fn distance_counts_transpositions_once() {
        let d = |a: &str, b: &str| distance(&fold(a), &fold(b));
        assert_eq!(d("abcd", "abdc"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
    }
}
