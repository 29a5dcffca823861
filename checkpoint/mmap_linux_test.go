//go:build linux

package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mappedKB returns the resident kilobytes of this process's mappings of
// path (/proc/self/smaps).
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("skipping: missing test hardware: no /proc/self/smaps (%v)", err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = len(fs) >= 6 && fs[len(fs)-1] == path
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			kb += n
		}
	}
	return kb
}

// writeF32s writes a safetensors file of F32 tensors (name → values, all
// 1-D), 4-byte aligned, and returns its path.
func writeF32s(t *testing.T, names []string, vals map[string][]float32) string {
	t.Helper()
	header := map[string]any{}
	var data []byte
	for _, n := range names {
		v := vals[n]
		off := len(data)
		for _, x := range v {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(x))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": []int{len(v)}, "data_offsets": []int{off, len(data)}}
	}
	for pad := ""; ; pad += " " {
		header["__metadata__"] = map[string]string{"pad": pad}
		if h, _ := json.Marshal(header); (8+len(h))%4 == 0 {
			break
		}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMappedPagesLetGo checks what keeps a checkpoint's pages out of
// memory once a model is built: small tensors are copied (their reads never
// touch the mapping again), Prepare drops the pages loading touched, and a
// row looked up from a large table is let go with its neighbourhood
// (ReleaseMappedAround), while every value still reads back right.
func TestMappedPagesLetGo(t *testing.T) {
	if !ZeroCopy {
		t.Skip("skipping: missing test hardware: this platform copies tensors instead of mapping them")
	}
	const rows, width = 4096, 512 // an 8 MiB table
	vals := map[string][]float32{"bias": make([]float32, 300), "table": make([]float32, rows*width)}
	for n, v := range vals {
		for i := range v {
			v[i] = float32(len(n)) + float32(i)*0.25
		}
	}
	path := writeF32s(t, []string{"bias", "table"}, vals)
	s, err := LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bias, _ := s.Get("bias")
	table, _ := s.Get("table")
	if IsMapped(bias) || !IsMapped(table) {
		t.Fatalf("bias mapped %v (want a copy), table mapped %v (want zero-copy)", IsMapped(bias), IsMapped(table))
	}
	// Touch everything, as loading and packing do.
	sum := float32(0)
	for _, x := range table.Data() {
		sum += x
	}
	if sum == 0 {
		t.Fatal("table sums to 0")
	}
	if kb := mappedKB(t, path); kb < 8192 {
		t.Fatalf("after reading the table %d kB of the file are resident, want all 8 MiB (the test cannot see pages)", kb)
	}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	if kb := mappedKB(t, path); kb > 0 {
		t.Fatalf("after Prepare %d kB of the file are still mapped in, want 0", kb)
	}
	for i, x := range bias.Data() {
		if x != vals["bias"][i] {
			t.Fatalf("bias[%d] = %v, want %v", i, x, vals["bias"][i])
		}
	}
	if kb := mappedKB(t, path); kb > 0 {
		t.Fatalf("reading the copied bias mapped %d kB of the file in", kb)
	}
	// Look rows up as an embedding does: each read brings pages in, the
	// release lets them go again.
	d := table.Data()
	for _, r := range []int{0, 7, 1500, rows/2 + 3, rows - 1} {
		row := d[r*width : (r+1)*width]
		for i, x := range row {
			if want := vals["table"][r*width+i]; x != want {
				t.Fatalf("table[%d][%d] = %v, want %v", r, i, x, want)
			}
		}
		if kb := mappedKB(t, path); kb == 0 {
			t.Fatalf("row %d read without a page mapped in (the test cannot see pages)", r)
		}
		ReleaseMappedAround(row)
		if kb := mappedKB(t, path); kb > 0 {
			t.Fatalf("after ReleaseMappedAround of row %d, %d kB are still mapped in", r, kb)
		}
	}
}
