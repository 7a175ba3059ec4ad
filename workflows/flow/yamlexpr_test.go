package flow

import "testing"

func TestQuoteExprs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"with: {location: ${ .item }, days: 1}\n", "with: {location: '${ .item }', days: 1}\n"},
		{"title: ${ \"Umbrella: \\(.item.location)\" }\n", "title: '${ \"Umbrella: \\(.item.location)\" }'\n"},
		{"x: ${ {a: 1} | .a }  # comment\n", "x: '${ {a: 1} | .a }'  # comment\n"},
		{"- ${ .inputs.x }\n", "- '${ .inputs.x }'\n"},
		{"l: [${ .a }, ${ \"it's\" }]\n", "l: ['${ .a }', '${ \"it''s\" }']\n"},
		// Already quoted, block scalars, comments and text around ${ } stay.
		{"x: '${ .a }'\n", "x: '${ .a }'\n"},
		{"x: \"${ .a }\"\n", "x: \"${ .a }\"\n"},
		{"x: |\n  ${ .a }\ny: 1\n", "x: |\n  ${ .a }\ny: 1\n"},
		{"# ${ .a }\n", "# ${ .a }\n"},
		{"x: Hello ${ .a }\n", "x: Hello ${ .a }\n"},
		{"x: ${ .a } and ${ .b }\n", "x: ${ .a } and ${ .b }\n"},
		{"x: ${ .a\n", "x: ${ .a\n"},
		{"${ .a }: 1\n", "${ .a }: 1\n"},
	} {
		got, cm := quoteExprs(tc.in)
		if got != tc.want {
			t.Errorf("quoteExprs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if got == tc.in && !cm.empty() {
			t.Errorf("%q: unchanged text but column map %v", tc.in, cm.ins)
		}
	}
}

func TestColMapOrig(t *testing.T) {
	_, cm := quoteExprs("with: {location: ${ .item }, days: 1}\n")
	// with: {location: '${ .item }', days: 1}
	// 1234567890123456789012345678901234567890
	for rewritten, orig := range map[int]int{1: 1, 18: 18, 19: 18, 20: 19, 29: 28, 30: 28, 31: 29, 33: 31} {
		if got := cm.orig(1, rewritten); got != orig {
			t.Errorf("orig(1, %d) = %d, want %d", rewritten, got, orig)
		}
	}
	if got := cm.orig(2, 5); got != 5 {
		t.Errorf("other lines unchanged: %d", got)
	}
}
