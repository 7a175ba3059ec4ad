package flow

import "sort"

// Dependencies returns, for every step of one steps list, the ids of the
// steps of that list it waits for: those it, or a step nested in it, names
// in needs or reads as .steps.<id>, and, for an on_error handler, those
// holding a step that names it. Ids are sorted. The engine schedules a
// list by it, and the data-flow analysis (Provenance) uses it to tell which
// steps can only start after which; it does not check for cycles.
func Dependencies(steps []*Step) map[string][]string {
	ids := make(map[string]bool, len(steps))
	for _, s := range steps {
		ids[s.ID] = true
	}
	sets := make(map[string]map[string]bool, len(steps))
	for _, s := range steps {
		sets[s.ID] = map[string]bool{}
	}
	for _, s := range steps {
		walkSteps([]*Step{s}, func(x *Step) {
			for _, id := range stepRefs(x) {
				if ids[id] && id != s.ID {
					sets[s.ID][id] = true
				}
			}
			// A handler waits for the step holding what it handles.
			if h := x.OnError; ids[h] && h != s.ID {
				sets[h][s.ID] = true
			}
		})
	}
	deps := make(map[string][]string, len(steps))
	for _, s := range steps {
		set := sets[s.ID]
		list := make([]string, 0, len(set))
		for id := range set {
			list = append(list, id)
		}
		sort.Strings(list)
		deps[s.ID] = list
	}
	return deps
}

// stepRefs lists the step ids s itself (not its nested steps) names in
// needs or reads in any expression.
func stepRefs(s *Step) []string {
	out := append([]string(nil), s.Needs...)
	for _, r := range stepExprs(s) {
		out = append(out, r.e.References...)
	}
	return out
}
