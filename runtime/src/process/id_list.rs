//! The kernel's list format for CPU and NUMA node ids ("0-3,7"), as
//! `process.execCPUAffinity` and `linux.memoryPolicy.nodes` write them.
//! Spaces and empty elements are allowed, as runc's parser allows them.

/// The ids of `list` as inclusive ranges, each checked against `cap` (the
/// host's possible ids); `what` ("CPU", "node") names an id in the reason
/// of an error, which the caller prefixes with its field.
pub fn ranges(list: &str, what: &str, cap: usize) -> Result<Vec<(usize, usize)>, String> {
    let mut out = Vec::new();
    for r in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid {what} {s:?}"))
        };
        let (a, b) = match r.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(r)?, num(r)?),
        };
        if a > b {
            return Err(format!("invalid range {r:?}"));
        }
        if b >= cap {
            return Err(format!(
                "{what} {b} out of range (this host has {what}s 0-{})",
                cap.saturating_sub(1)
            ));
        }
        out.push((a, b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn lists_ranges_and_errors() {
        assert_eq!(ranges(" 0-2, ,5", "CPU", 8), Ok(vec![(0, 2), (5, 5)]));
        assert_eq!(ranges("", "CPU", 8), Ok(vec![]));
        assert_eq!(ranges("3-1", "CPU", 8), Err("invalid range \"3-1\"".into()));
        assert_eq!(ranges("x", "node", 8), Err("invalid node \"x\"".into()));
        assert_eq!(
            ranges("0-8", "node", 8),
            Err("node 8 out of range (this host has nodes 0-7)".into())
        );
    }
}
