# json_flat.awk — print every scalar of a JSON document as "path<TAB>value", the path being the
# object keys / array indices joined by "/" (strings printed without their quotes; escapes other
# than \" and \\ are left as written). Enough for comparing vlkit's JSON with fixture files in
# shell tests without jq or Python.
#   awk -f tests/cli/json_flat.awk file.json
{ text = text $0 "\n" }
END {
    n = length(text); i = 1; depth = 0
    while (i <= n) {
        c = substr(text, i, 1)
        if (c == "{" || c == "[") {
            depth++; kind[depth] = c; idx[depth] = 0; key[depth] = ""; expect_key[depth] = (c == "{"); i++
        } else if (c == "}" || c == "]") {
            depth--; i++; after_value()
        } else if (c == ",") {
            if (kind[depth] == "{") expect_key[depth] = 1; else idx[depth]++
            i++
        } else if (c == ":") {
            i++
        } else if (c == "\"") {
            s = ""; i++
            while (i <= n) {
                d = substr(text, i, 1)
                if (d == "\\") { e = substr(text, i + 1, 1); s = s (e == "\"" || e == "\\" ? e : "\\" e); i += 2; continue }
                if (d == "\"") { i++; break }
                s = s d; i++
            }
            if (kind[depth] == "{" && expect_key[depth]) { key[depth] = s; expect_key[depth] = 0 }
            else emit(s)
        } else if (c ~ /[-0-9tfn]/) {
            s = ""
            while (i <= n && substr(text, i, 1) ~ /[-+0-9.eEtrufalsn]/) { s = s substr(text, i, 1); i++ }
            emit(s)
        } else {
            i++
        }
    }
}
function path(   p, k) {
    p = ""
    for (k = 1; k <= depth; k++) p = p (k > 1 ? "/" : "") (kind[k] == "{" ? key[k] : idx[k])
    return p
}
function emit(v) { print path() "\t" v }
function after_value() { }
