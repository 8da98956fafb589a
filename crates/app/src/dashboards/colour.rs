//! Which threshold colours a dashboard may hold: `#rgb`, `#rgba`, `#rrggbb`,
//! `#rrggbbaa`, `rgb()` / `rgba()` / `hsl()` / `hsla()` of numbers, CSS colour names, and
//! Grafana's palette names (`dark-red`, `semi-dark-orange`, `super-light-blue`, `text`,
//! `transparent`). A colour ends up in a page's `style` attribute, so anything else is
//! refused when the dashboard is read rather than trusted when it is drawn.

/// Grafana's palette hues, which take the `dark-`, `semi-dark-`, `light-` and
/// `super-light-` prefixes.
const GRAFANA_HUES: [&str; 6] = ["red", "orange", "yellow", "green", "blue", "purple"];

/// The CSS named colours (CSS Color Module Level 4).
const CSS_NAMES: [&str; 148] = [
    "aliceblue",
    "antiquewhite",
    "aqua",
    "aquamarine",
    "azure",
    "beige",
    "bisque",
    "black",
    "blanchedalmond",
    "blue",
    "blueviolet",
    "brown",
    "burlywood",
    "cadetblue",
    "chartreuse",
    "chocolate",
    "coral",
    "cornflowerblue",
    "cornsilk",
    "crimson",
    "cyan",
    "darkblue",
    "darkcyan",
    "darkgoldenrod",
    "darkgray",
    "darkgreen",
    "darkgrey",
    "darkkhaki",
    "darkmagenta",
    "darkolivegreen",
    "darkorange",
    "darkorchid",
    "darkred",
    "darksalmon",
    "darkseagreen",
    "darkslateblue",
    "darkslategray",
    "darkslategrey",
    "darkturquoise",
    "darkviolet",
    "deeppink",
    "deepskyblue",
    "dimgray",
    "dimgrey",
    "dodgerblue",
    "firebrick",
    "floralwhite",
    "forestgreen",
    "fuchsia",
    "gainsboro",
    "ghostwhite",
    "gold",
    "goldenrod",
    "gray",
    "green",
    "greenyellow",
    "grey",
    "honeydew",
    "hotpink",
    "indianred",
    "indigo",
    "ivory",
    "khaki",
    "lavender",
    "lavenderblush",
    "lawngreen",
    "lemonchiffon",
    "lightblue",
    "lightcoral",
    "lightcyan",
    "lightgoldenrodyellow",
    "lightgray",
    "lightgreen",
    "lightgrey",
    "lightpink",
    "lightsalmon",
    "lightseagreen",
    "lightskyblue",
    "lightslategray",
    "lightslategrey",
    "lightsteelblue",
    "lightyellow",
    "lime",
    "limegreen",
    "linen",
    "magenta",
    "maroon",
    "mediumaquamarine",
    "mediumblue",
    "mediumorchid",
    "mediumpurple",
    "mediumseagreen",
    "mediumslateblue",
    "mediumspringgreen",
    "mediumturquoise",
    "mediumvioletred",
    "midnightblue",
    "mintcream",
    "mistyrose",
    "moccasin",
    "navajowhite",
    "navy",
    "oldlace",
    "olive",
    "olivedrab",
    "orange",
    "orangered",
    "orchid",
    "palegoldenrod",
    "palegreen",
    "paleturquoise",
    "palevioletred",
    "papayawhip",
    "peachpuff",
    "peru",
    "pink",
    "plum",
    "powderblue",
    "purple",
    "rebeccapurple",
    "red",
    "rosybrown",
    "royalblue",
    "saddlebrown",
    "salmon",
    "sandybrown",
    "seagreen",
    "seashell",
    "sienna",
    "silver",
    "skyblue",
    "slateblue",
    "slategray",
    "slategrey",
    "snow",
    "springgreen",
    "steelblue",
    "tan",
    "teal",
    "thistle",
    "tomato",
    "turquoise",
    "violet",
    "wheat",
    "white",
    "whitesmoke",
    "yellow",
    "yellowgreen",
];

/// Whether `s` is a colour a dashboard may use (see the module doc).
pub fn is_colour(s: &str) -> bool {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    let lower = s.to_ascii_lowercase();
    for function in ["rgba(", "rgb(", "hsla(", "hsl("] {
        if let Some(args) = lower.strip_prefix(function) {
            return args.strip_suffix(')').is_some_and(numeric_arguments);
        }
    }
    is_grafana_name(&lower) || CSS_NAMES.contains(&lower.as_str())
}

fn is_grafana_name(name: &str) -> bool {
    if name == "text" || name == "transparent" {
        return true;
    }
    let hue = ["super-light-", "semi-dark-", "light-", "dark-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    GRAFANA_HUES.contains(&hue)
}

/// `255, 0, 0, 0.5`, `0 100% 50% / 50%`, `120deg 50% 50%`: numbers with an optional unit.
fn numeric_arguments(args: &str) -> bool {
    let parts: Vec<&str> = args
        .split([',', ' ', '/'])
        .filter(|p| !p.is_empty())
        .collect();
    (3..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            let number = p
                .trim_end_matches('%')
                .trim_end_matches("deg")
                .trim_end_matches("turn");
            !number.is_empty() && number.parse::<f64>().is_ok_and(f64::is_finite)
        })
}

#[cfg(test)]
mod tests {
    use super::is_colour;

    #[test]
    fn colours_that_may_reach_a_style_attribute() {
        for ok in [
            "#abc",
            "#AABBCC",
            "#aabbcc80",
            "rgb(255, 0, 0)",
            "rgba(50, 172, 45, 0.97)",
            "hsl(120deg 50% 50%)",
            "green",
            "dark-red",
            "semi-dark-orange",
            "super-light-blue",
            "transparent",
            "text",
            "RebeccaPurple",
        ] {
            assert!(is_colour(ok), "{ok}");
        }
        for bad in [
            "#fff;background:url(https://evil.example/x)",
            "red;position:fixed",
            "rgb(0,0,0);x:y",
            "rgb(0,0,0) url(x)",
            "expression(alert(1))",
            "url(https://evil.example/)",
            "#ggg",
            "#12345",
            "gren",
            "",
            "red\"><script>",
        ] {
            assert!(!is_colour(bad), "{bad}");
        }
    }
}
