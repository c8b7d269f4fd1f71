package apps

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// entry is one key of a mapping in the apps file, aliases followed.
type entry struct {
	key, value *yaml.Node
	name       string
	// first is the key of the same name earlier in the mapping, when the
	// name is given twice: the file must not say two things at once.
	first *yaml.Node
}

// entries are the keys of mapping m, then those its merge keys
// (<<: *base) bring that m does not give itself, as the YAML library's
// decoding merged them before this file was read node by node.
func (r *fileReader) entries(m *yaml.Node, path string) []entry {
	return r.entriesMerging(m, path, map[*yaml.Node]bool{m: true})
}

// entriesMerging is entries, each mapping merged at most once: the first
// to give a key wins, so a second merge of one adds nothing, and an
// anchor merging itself, or merges nested many times over, end.
func (r *fileReader) entriesMerging(m *yaml.Node, path string, merged map[*yaml.Node]bool) []entry {
	var (
		out       []entry
		seen      = map[string]*yaml.Node{}
		inherited []entry
	)
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := deref(m.Content[i]), deref(m.Content[i+1])
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			inherited = append(inherited, r.mergedEntries(value, path, merged)...)
			continue
		}
		e := entry{key: key, value: value, name: key.Value}
		if key.Kind == yaml.ScalarNode {
			if first, twice := seen[e.name]; twice {
				e.first = first
			} else {
				seen[e.name] = key
			}
		}
		out = append(out, e)
	}
	for _, e := range inherited {
		if _, given := seen[e.name]; !given && e.key.Kind == yaml.ScalarNode {
			seen[e.name] = e.key
			out = append(out, e)
		}
	}
	return out
}

// mergedEntries are the entries a merge key's value brings: a mapping, or
// a list of them.
func (r *fileReader) mergedEntries(value *yaml.Node, path string, merged map[*yaml.Node]bool) []entry {
	sources := []*yaml.Node{value}
	if value.Kind == yaml.SequenceNode {
		sources = value.Content
	}
	var out []entry
	for _, source := range sources {
		source = deref(source)
		if source.Kind != yaml.MappingNode {
			r.fail(source, path, "a merge (<<) takes a mapping or a list of them, not %s", describe(source))
			continue
		}
		if merged[source] {
			continue
		}
		merged[source] = true
		out = append(out, r.entriesMerging(source, path, merged)...)
	}
	return out
}

// deref is the node an alias (*name) stands for.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isNumber(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float")
}

// describe names what a node is, in words, never its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return "text"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true or false"
		}
	}
	return "a value of another kind"
}

// shown is a number as the file writes it, when it is too short to be a
// token (one could be all digits).
func shown(n *yaml.Node) string {
	if len(n.Value) < minTokenLen {
		return display(n.Value)
	}
	return "the number"
}

// display is a name as the file writes it, on one line: each problem is a
// line of the start-up log and of check.
func display(s string) string {
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// listed is "a, b and c".
func listed(fields []string) string {
	if len(fields) == 1 {
		return fields[0]
	}
	return strings.Join(fields[:len(fields)-1], ", ") + " and " + fields[len(fields)-1]
}

// didYouMean is the field name most likely meant by name: the same but for
// case, - and _ (memoryShare), or at most two edits away (rate_limt_api).
func didYouMean(name string, fields []string) string {
	best, bestDistance := "", 3
	for _, f := range fields {
		if squash(name) == squash(f) {
			return f
		}
		if d := editDistance(strings.ToLower(name), f); d < bestDistance {
			best, bestDistance = f, d
		}
	}
	return best
}

func squash(s string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	if utf8.RuneCountInString(a) > 64 {
		return 64 // far from every field name, and no quadratic work on a long key
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}
