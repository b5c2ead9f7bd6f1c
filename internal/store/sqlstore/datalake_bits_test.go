package sqlstore

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestChunkCodec: a chunk comes back as it went in, as an array of
// offsets up to arrayMax and as a bitset past it.
func TestChunkCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 100, arrayMax, arrayMax + 1, 30000, chunkSize} {
		in := newBitset()
		for in.count() < n {
			in.set(uint16(r.IntN(chunkSize)))
		}
		raw := encodeChunk(in)
		if n <= arrayMax && len(raw) != 2*n || n > arrayMax && len(raw) != chunkBytes {
			t.Fatalf("%d fids: %d bytes", n, len(raw))
		}
		out := newBitset()
		if err := out.orChunk(raw); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in, out) {
			t.Fatalf("%d fids: decoded differently", n)
		}
		if got := chunkCount(raw); got != n {
			t.Fatalf("chunkCount = %d, want %d", got, n)
		}
		half := newBitset()
		for i := 0; i < chunkSize; i += 2 {
			half.set(uint16(i))
		}
		want := 0
		in.each(func(off uint16) bool {
			if off%2 == 0 {
				want++
			}
			return true
		})
		if got, err := half.andCount(raw); err != nil || got != want {
			t.Fatalf("%d fids: andCount = %d, %v; want %d", n, got, err, want)
		}
	}
	if err := newBitset().orChunk([]byte{1, 2, 3}); err == nil {
		t.Fatal("an odd-length chunk decoded")
	}
}

// TestNumberKeyOrder: keys order numbers as the numbers do; -0 is 0.
func TestNumberKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nums := []float64{0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}
	for range 1000 {
		nums = append(nums, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(40)-20)))
	}
	for i := range nums {
		for j := range nums {
			a, b := nums[i], nums[j]
			ka, kb := numberKey(a), numberKey(b)
			if (a < b) != (ka < kb) || (a == b) != (ka == kb) {
				t.Fatalf("%v vs %v: keys %x vs %x", a, b, ka, kb)
			}
		}
	}
}

// TestCover: the runs hold every key of the range and only buckets that
// meet it, no run but the coarsest longer than 2x15 buckets.
func TestCover(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, shifts := range [][]uint{numberShifts, timeShifts} {
		for i := range 3000 {
			lo, hi := r.Uint64(), r.Uint64()
			switch i % 4 {
			case 1: // near each other
				hi = lo + r.Uint64N(1<<(shifts[0]+uint(r.IntN(20))))
			case 2:
				lo = 0
			case 3:
				hi = math.MaxUint64
			}
			if hi < lo {
				lo, hi = hi, lo
			}
			runs := cover(lo, hi, shifts)
			if len(runs) > 2*len(shifts) {
				t.Fatalf("[%x, %x]: %d runs", lo, hi, len(runs))
			}
			in := func(k uint64) bool {
				for _, run := range runs {
					if b := k >> shifts[run.level]; b >= run.lo && b <= run.hi {
						return true
					}
				}
				return false
			}
			for _, k := range []uint64{lo, hi, lo + (hi-lo)/2, lo + (hi-lo)/3} {
				if !in(k) {
					t.Fatalf("[%x, %x]: key %x not covered by %+v", lo, hi, k, runs)
				}
			}
			for range 20 {
				if k := lo + r.Uint64N(hi-lo+1); hi-lo < math.MaxUint64 && !in(k) {
					t.Fatalf("[%x, %x]: key %x not covered by %+v", lo, hi, k, runs)
				}
			}
			for _, run := range runs {
				s := shifts[run.level]
				first, last := run.lo<<s, (run.hi<<s)|(1<<s-1)
				if last < lo || first > hi || run.hi-run.lo > 30 && run.level < len(shifts)-1 {
					t.Fatalf("[%x, %x]: run %+v = [%x, %x] reaches outside or is too long", lo, hi, run, first, last)
				}
			}
		}
	}
}
