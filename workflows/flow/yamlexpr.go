package flow

import (
	"sort"
	"strings"
)

// quoteExprs single-quotes every unquoted `${ ... }` value in a flow file
// before YAML parsing. Unquoted, such a value breaks YAML in two common
// places: inside a flow mapping (`{location: ${ .item }}`: braces are flow
// indicators) and when the jq contains ": " (`${ "Umbrella: \(.x)" }`).
// Quoting them makes both read as written. The text is scanned with just
// enough YAML lexing to leave quoted scalars, block scalars, comments and
// keys alone; the returned colMap maps columns of the rewritten text back to
// the original, since the rewrite inserts characters but never lines.
func quoteExprs(src string) (string, *colMap) {
	q := &quoter{src: src, cm: &colMap{}}
	q.run()
	if q.cm.empty() {
		return src, q.cm
	}
	return q.out.String(), q.cm
}

// colMap records, per line, where characters were inserted.
type colMap struct {
	// ins maps a 1-based line to insertions sorted by column.
	ins map[int][]insertion
}

type insertion struct {
	col   int // 1-based column in the rewritten line where the text starts
	count int // characters inserted
}

func (m *colMap) empty() bool { return len(m.ins) == 0 }

func (m *colMap) add(line, col, count int) {
	if m.ins == nil {
		m.ins = map[int][]insertion{}
	}
	m.ins[line] = append(m.ins[line], insertion{col, count})
}

// orig maps a column of the rewritten text to the original column.
func (m *colMap) orig(line, col int) int {
	if m == nil {
		return col
	}
	ins := m.ins[line]
	if len(ins) == 0 {
		return col
	}
	sort.Slice(ins, func(i, j int) bool { return ins[i].col < ins[j].col })
	shift := 0
	for _, in := range ins {
		switch {
		case col >= in.col+in.count:
			shift += in.count
		case col >= in.col:
			// Inside inserted text: point at the character it precedes.
			return in.col - shift
		default:
			return col - shift
		}
	}
	return col - shift
}

type quoter struct {
	src  string
	i    int
	line int // 1-based line of src[i]
	col  int // 1-based column of src[i] in the rewritten text
	out  strings.Builder
	cm   *colMap
	// depth counts open flow collections ({ or [).
	depth int
	// start is true where a scalar may begin.
	start bool
}

func (q *quoter) peek(off int) byte {
	if q.i+off < len(q.src) {
		return q.src[q.i+off]
	}
	return 0
}

// emit copies n bytes of src to the output.
func (q *quoter) emit(n int) {
	for k := 0; k < n && q.i < len(q.src); k++ {
		c := q.src[q.i]
		q.out.WriteByte(c)
		q.i++
		if c == '\n' {
			q.line++
			q.col = 1
		} else if c < 0x80 || c >= 0xC0 {
			q.col++
		}
	}
}

func (q *quoter) run() {
	q.line, q.col, q.start = 1, 1, true
	for q.i < len(q.src) {
		c := q.src[q.i]
		switch {
		case c == '\n':
			q.emit(1)
			if q.depth == 0 {
				q.start = true
			}
		case c == ' ' || c == '\t' || c == '\r':
			q.emit(1)
		case c == '#' && (q.i == 0 || isBlank(q.src[q.i-1])):
			q.skipLine()
		case q.start && (c == '\'' || c == '"'):
			q.skipQuoted(c)
			q.start = false
		case q.start && q.depth == 0 && (c == '|' || c == '>'):
			q.skipBlockScalar()
		case q.start && c == '$' && q.peek(1) == '{':
			if !q.tryQuote() {
				q.emit(1)
			}
			q.start = false
		case c == '{' || c == '[':
			if q.start || q.depth > 0 {
				q.depth++
				q.start = true
			} else {
				q.start = false
			}
			q.emit(1)
		case (c == '}' || c == ']') && q.depth > 0:
			q.depth--
			q.start = false
			q.emit(1)
		case c == ',' && q.depth > 0:
			q.start = true
			q.emit(1)
		case (c == ':' || c == '-' || c == '?') && (isBlank(q.peek(1)) || q.peek(1) == 0) &&
			(c == ':' || q.start):
			q.start = true
			q.emit(1)
		default:
			q.start = false
			q.emit(1)
		}
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (q *quoter) skipLine() {
	for q.i < len(q.src) && q.src[q.i] != '\n' {
		q.emit(1)
	}
}

func (q *quoter) skipQuoted(quote byte) {
	q.emit(1)
	for q.i < len(q.src) {
		c := q.src[q.i]
		switch {
		case quote == '"' && c == '\\':
			q.emit(2)
		case c == quote && quote == '\'' && q.peek(1) == '\'':
			q.emit(2)
		case c == quote:
			q.emit(1)
			return
		default:
			q.emit(1)
		}
	}
}

// skipBlockScalar skips a | or > scalar: its header line and every
// following line indented deeper than the line's key.
func (q *quoter) skipBlockScalar() {
	lineStart := strings.LastIndexByte(q.src[:q.i], '\n') + 1
	indent := 0
	for k := lineStart; k < q.i; k++ {
		c := q.src[k]
		if c == ' ' || (c == '-' && k+1 < len(q.src) && q.src[k+1] == ' ') {
			indent++
			continue
		}
		break
	}
	q.skipLine()
	for q.i < len(q.src) {
		// q.src[q.i] is '\n'.
		next := q.src[q.i+1:]
		end := strings.IndexByte(next, '\n')
		if end < 0 {
			end = len(next)
		}
		l := next[:end]
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) != "" && ind <= indent {
			return
		}
		q.emit(1)
		q.skipLine()
	}
}

// tryQuote quotes the expression starting at q.i if it is a whole value.
func (q *quoter) tryQuote() bool {
	end := matchExpr(q.src, q.i)
	if end < 0 {
		return false
	}
	// The value must end here: only blanks, a comment, or (in a flow
	// collection) a separator may follow on the line.
	rest := q.src[end:]
	k := 0
	for k < len(rest) && (rest[k] == ' ' || rest[k] == '\t' || rest[k] == '\r') {
		k++
	}
	switch {
	case k == len(rest) || rest[k] == '\n':
	case rest[k] == '#' && k > 0:
	case q.depth > 0 && (rest[k] == ',' || rest[k] == '}' || rest[k] == ']'):
	default:
		return false
	}
	q.cm.add(q.line, q.col, 1)
	q.out.WriteByte('\'')
	q.col++
	for q.i < end {
		if q.src[q.i] == '\'' {
			q.cm.add(q.line, q.col, 1)
			q.out.WriteByte('\'')
			q.col++
		}
		q.emit(1)
	}
	q.cm.add(q.line, q.col, 1)
	q.out.WriteByte('\'')
	q.col++
	return true
}

// matchExpr returns the index just past the `}` closing the `${` at i,
// reading jq strings (with \( ) interpolation) so braces inside them do
// not count, or -1.
func matchExpr(s string, i int) int {
	// Each stack entry is the closer awaited: '}' for braces, ')' for
	// parentheses inside an interpolation, '"' for a string.
	stack := []byte{'}'}
	for k := i + 2; k < len(s); k++ {
		c := s[k]
		top := stack[len(stack)-1]
		if top == '"' {
			switch c {
			case '\\':
				if k+1 < len(s) && s[k+1] == '(' {
					stack = append(stack, ')')
					k++
				} else {
					k++
				}
			case '"':
				stack = stack[:len(stack)-1]
			case '\n':
				return -1
			}
			continue
		}
		switch c {
		case '"':
			stack = append(stack, '"')
		case '{':
			stack = append(stack, '}')
		case '(':
			stack = append(stack, ')')
		case '}', ')':
			if c != top {
				return -1
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return k + 1
			}
		}
	}
	return -1
}
