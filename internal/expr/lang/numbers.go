package lang

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/env"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Arithmetic where int and double mix, the result a double.
//
// Standard CEL refuses 3.0 * 10. But every number that reaches a koya
// expression through JSON (foreach items, step outputs, params read back
// from the store) is a double, so {{ item * 10 }} must work, as it would in
// the JSON world the values come from; comparisons across int and double
// already work (CrossTypeNumericComparisons). The standard +, -, * and /
// are replaced by declarations with the same overloads plus (int, double)
// and (double, int), and one binding that widens a mixed pair to doubles
// and otherwise does exactly what the standard one does.

var arithmetic = []struct {
	fn    string
	trait int
	mixed func(a, b float64) float64
	std   func(lhs, rhs ref.Val) ref.Val
}{
	{operators.Add, traits.AdderType, func(a, b float64) float64 { return a + b },
		func(l, r ref.Val) ref.Val { return l.(traits.Adder).Add(r) }},
	{operators.Subtract, traits.SubtractorType, func(a, b float64) float64 { return a - b },
		func(l, r ref.Val) ref.Val { return l.(traits.Subtractor).Subtract(r) }},
	{operators.Multiply, traits.MultiplierType, func(a, b float64) float64 { return a * b },
		func(l, r ref.Val) ref.Val { return l.(traits.Multiplier).Multiply(r) }},
	{operators.Divide, traits.DividerType, func(a, b float64) float64 { return a / b },
		func(l, r ref.Val) ref.Val { return l.(traits.Divider).Divide(r) }},
}

// stdLibWithJSONArithmetic is the standard library with +, -, * and /
// replaced as described above.
func stdLibWithJSONArithmetic() ([]cel.EnvOption, error) {
	std, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	var excluded []*env.Function
	var redeclared []cel.EnvOption
	for _, a := range arithmetic {
		decl, ok := std.Functions()[a.fn]
		if !ok {
			continue
		}
		excluded = append(excluded, &env.Function{Name: a.fn})
		var opts []cel.FunctionOpt
		for _, o := range decl.OverloadDecls() {
			opts = append(opts, cel.Overload(o.ID(), o.ArgTypes(), o.ResultType()))
		}
		opts = append(opts,
			cel.Overload(a.fn+"_int64_double", []*cel.Type{cel.IntType, cel.DoubleType}, cel.DoubleType),
			cel.Overload(a.fn+"_double_int64", []*cel.Type{cel.DoubleType, cel.IntType}, cel.DoubleType),
			cel.SingletonBinaryBinding(binding(a.mixed, a.std), a.trait),
		)
		redeclared = append(redeclared, cel.Function(a.fn, opts...))
	}
	out := []cel.EnvOption{cel.StdLib(cel.StdLibSubset(&env.LibrarySubset{ExcludeFunctions: excluded}))}
	return append(out, redeclared...), nil
}

func binding(mixed func(a, b float64) float64, std func(l, r ref.Val) ref.Val) func(l, r ref.Val) ref.Val {
	return func(l, r ref.Val) ref.Val {
		switch a := l.(type) {
		case types.Int:
			if b, ok := r.(types.Double); ok {
				return types.Double(mixed(float64(a), float64(b)))
			}
		case types.Double:
			if b, ok := r.(types.Int); ok {
				return types.Double(mixed(float64(a), float64(b)))
			}
		}
		return std(l, r)
	}
}
