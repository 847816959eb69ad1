//! The code-whitespace recipe of the RNN study (seed 002): lowercase, put
//! spaces around `()[]{}:,.=+-*/`, split on whitespace. Used for both sides;
//! its code side does not detokenize back to code.

const SPECIAL: &[char] = &['(', ')', '[', ']', '{', '}', ':', ',', '.', '=', '+', '-', '*', '/'];

pub fn tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut spaced = String::with_capacity(lower.len() + lower.len() / 2);
    for ch in lower.chars() {
        if SPECIAL.contains(&ch) {
            spaced.push(' ');
            spaced.push(ch);
            spaced.push(' ');
        } else {
            spaced.push(ch);
        }
    }
    spaced.split_whitespace().map(str::to_owned).collect()
}

/// Joins with single spaces: the recipe loses the original layout.
pub fn detokenize(tokens: &[String]) -> String {
    tokens.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_recipe() {
        assert_eq!(tokenize("Returns the Maximum value."), ["returns", "the", "maximum", "value", "."]);
        assert_eq!(
            tokenize("def f(xs):\n    return max(xs[0:2], key=len)+1"),
            [
                "def", "f", "(", "xs", ")", ":", "return", "max", "(", "xs", "[", "0", ":", "2", "]", ",", "key", "=",
                "len", ")", "+", "1"
            ]
        );
        // `==` and `**` become two tokens each: the recipe splits every listed character.
        assert_eq!(tokenize("a==b**2"), ["a", "=", "=", "b", "*", "*", "2"]);
        // Characters outside the list stay attached.
        assert_eq!(tokenize("x['k'] % 2 != y"), ["x", "[", "'k'", "]", "%", "2", "!", "=", "y"]);
        assert!(tokenize(" \n\t ").is_empty());
        assert_eq!(detokenize(&tokenize("f(x)")), "f ( x )");
    }
}
