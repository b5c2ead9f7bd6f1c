package v1

import (
	"strings"

	"github.com/koya-dev/koya/internal/expr/lang"
)

// graph is a workflow's steps as a DAG of needs, for validation.
type graph struct {
	steps   []Step
	index   map[string]int             // step name -> first step of that name
	outputs map[string]map[string]bool // step name -> its output names
}

func newGraph(steps []Step) *graph {
	g := &graph{steps: steps, index: map[string]int{}, outputs: map[string]map[string]bool{}}
	for i, s := range steps {
		if _, dup := g.index[s.Name]; dup || s.Name == "" {
			continue
		}
		g.index[s.Name] = i
		outs := map[string]bool{}
		for o := range s.Outputs {
			outs[o] = true
		}
		g.outputs[s.Name] = outs
	}
	return g
}

func (g *graph) names() []string { return sortedKeys(g.index) }

// closure is the set of steps step i needs, directly or through its needs.
func (g *graph) closure(i int) map[string]bool {
	seen := map[string]bool{}
	queue := []int{i}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, n := range g.steps[cur].Needs {
			k, ok := g.index[n]
			if !ok || seen[n] || k == i {
				continue
			}
			seen[n] = true
			queue = append(queue, k)
		}
	}
	return seen
}

// dag checks step names and needs: duplicates, unknown or repeated needs,
// and cycles (each named by its path).
func (v *validator) dag(g *graph) {
	for i, s := range g.steps {
		p := joinIndex("spec.steps", i)
		if first := g.index[s.Name]; s.Name != "" && first != i {
			v.add(joinField(p, "name"), "duplicate step name %q (spec.steps[%d] has it too): step names are unique", s.Name, first)
		}
		seen := map[string]bool{}
		for j, n := range s.Needs {
			np := joinIndex(joinField(p, "needs"), j)
			_, known := g.index[n]
			switch {
			case n == s.Name:
				v.add(np, "step %q cannot need itself", n)
			case !known:
				hint := ""
				if c, ok := lang.Closest(n, g.names()); ok {
					hint = " (did you mean " + c + "?)"
				}
				v.add(np, "unknown step %q%s; steps of this workflow: %s", n, hint, strings.Join(g.names(), ", "))
			case seen[n]:
				v.add(np, "%q is listed twice", n)
			}
			seen[n] = true
		}
	}
	v.cycles(g)
}

// cycles reports each cycle once, at the need that closes it, as
// "a → b → a" where each step needs the next.
func (v *validator) cycles(g *graph) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(g.steps))
	var path []int
	var visit func(i int)
	visit = func(i int) {
		state[i] = onPath
		path = append(path, i)
		for j, n := range g.steps[i].Needs {
			k, ok := g.index[n]
			if !ok || k == i {
				continue
			}
			switch state[k] {
			case unseen:
				visit(k)
			case onPath:
				var names []string
				for at := len(path) - 1; at >= 0; at-- {
					if path[at] == k {
						for _, s := range path[at:] {
							names = append(names, g.steps[s].Name)
						}
						break
					}
				}
				names = append(names, g.steps[k].Name)
				v.add(joinIndex(joinField(joinIndex("spec.steps", i), "needs"), j),
					"needs form a cycle: %s (each step needs the next, so none can start)", strings.Join(names, " → "))
			}
		}
		path = path[:len(path)-1]
		state[i] = done
	}
	for i := range g.steps {
		if state[i] == unseen {
			visit(i)
		}
	}
}
