package testdata

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// The helpers of the benchmarks and of the measuring commands under
// testdata/ (peak memory, CPU time, large random checkpoints).

// ProcessCPU returns the user+system CPU time of the process so far, to
// report CPU per operation next to wall time on a shared machine.
func ProcessCPU() time.Duration {
	u, s := CPUTimes()
	return u + s
}

// MemFigure is one resident-set figure of the process, in kB.
type MemFigure struct {
	Name string
	KB   float64
}

// MemStatus returns the process's resident-set figures of
// /proc/self/status: VmHWM (the peak), VmRSS, RssAnon and RssFile, those
// the system reports (none outside Linux).
func MemStatus() []MemFigure {
	b, _ := os.ReadFile("/proc/self/status")
	var out []MemFigure
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == k+":" {
				var kb float64
				fmt.Sscan(f[1], &kb)
				out = append(out, MemFigure{k, kb})
			}
		}
	}
	return out
}

// TensorEntry is a tensor of a safetensors file: its name and number of
// values.
type TensorEntry struct {
	Name string
	Len  int
}

// WriteSafetensorsHeader writes the 8-byte length and the JSON header of
// a safetensors file holding tensors of the given shapes, in name order,
// of dtype with size bytes a value (the header padded with spaces to a
// multiple of 8 bytes; meta, when not nil, as "__metadata__"). It returns
// the tensors in the order their data must follow.
func WriteSafetensorsHeader(w io.Writer, shapes map[string][]int, dtype string, size int, meta map[string]string) ([]TensorEntry, error) {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	header := map[string]any{}
	if meta != nil {
		header["__metadata__"] = meta
	}
	entries := make([]TensorEntry, len(names))
	off := 0
	for i, n := range names {
		cnt := 1
		for _, d := range shapes[n] {
			cnt *= d
		}
		header[n] = map[string]any{"dtype": dtype, "shape": shapes[n], "data_offsets": []int{off, off + size*cnt}}
		off += size * cnt
		entries[i] = TensorEntry{n, cnt}
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	if err := binary.Write(w, binary.LittleEndian, uint64(len(hj))); err != nil {
		return nil, err
	}
	_, err = w.Write(hj)
	return entries, err
}
