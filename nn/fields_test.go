package nn

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestIntOrList(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"null", nil, false},
		{" null ", nil, false},
		{"2", []int{2}, false},
		{"[1, 2, 3]", []int{1, 2, 3}, false},
		{"[]", []int{}, false},
		{`"2"`, nil, true},
		{"[1, \"x\"]", nil, true},
		{"1.5", nil, true},
		{"{}", nil, true},
	} {
		got, err := IntOrList(json.RawMessage(c.raw))
		if (err != nil) != c.err {
			t.Errorf("IntOrList(%q): error %v, want error %v", c.raw, err, c.err)
			continue
		}
		if !c.err && (!slices.Equal(got, c.want) || (got == nil) != (c.want == nil)) {
			t.Errorf("IntOrList(%q) = %#v, want %#v", c.raw, got, c.want)
		}
	}
}

func TestSetIf(t *testing.T) {
	x := 3
	SetIf(&x, nil)
	if x != 3 {
		t.Fatalf("SetIf with nil changed the value to %d", x)
	}
	v := 0
	SetIf(&x, &v)
	if x != 0 {
		t.Fatalf("SetIf set %d, want 0 (a given zero overrides the default)", x)
	}
}
