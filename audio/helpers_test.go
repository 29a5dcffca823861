package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of an external program, skipping the test
// when it is missing (failing under CI=true, where .ci/run installs it).
func requireTool(t testing.TB, name, debianPkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not installed (Debian package %s)", name, debianPkg)
		}
		t.Skipf("skipping: missing test data: %s, which makes this test's audio, is not installed (apt-get install %s; CI installs it)", name, debianPkg)
	}
	return p
}

// run runs a command, failing the test with its output on error.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// chunk returns a RIFF chunk with its pad byte.
func chunk(id string, payload []byte) []byte {
	return chunkSized(id, uint32(len(payload)), payload, binary.LittleEndian)
}

func chunkSized(id string, size uint32, payload []byte, bo binary.ByteOrder) []byte {
	var b bytes.Buffer
	b.WriteString(id)
	binary.Write(&b, bo, size)
	b.Write(payload)
	if len(payload)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// riff assembles a RIFF-style file from chunks.
func riff(id string, bo binary.ByteOrder, chunks ...[]byte) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		body.Write(c)
	}
	var b bytes.Buffer
	b.WriteString(id)
	size := uint32(body.Len())
	if id == "RF64" {
		size = 0xFFFFFFFF
	}
	binary.Write(&b, bo, size)
	b.Write(body.Bytes())
	return b.Bytes()
}

// fmtPayload builds a fmt chunk body. container is bytes per sample;
// extensible selects WAVE_FORMAT_EXTENSIBLE with validBits.
func fmtPayload(bo binary.ByteOrder, tag, channels, rate, container, validBits int, extensible bool) []byte {
	var b bytes.Buffer
	t := tag
	if extensible {
		t = 0xFFFE
	}
	w := func(v any) { binary.Write(&b, bo, v) }
	w(uint16(t))
	w(uint16(channels))
	w(uint32(rate))
	w(uint32(rate * channels * container))
	w(uint16(channels * container))
	if extensible {
		w(uint16(container * 8))
		w(uint16(22))
		w(uint16(validBits))
		w(uint32(0))
		w(uint16(tag))
		b.WriteString("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
	} else {
		w(uint16(validBits))
	}
	return b.Bytes()
}

// pcmCase is known content for a WAV test: integer samples (or floats for
// float formats) and the float32 values they must decode to.
type pcmCase struct {
	data []byte      // interleaved sample bytes
	want [][]float32 // per channel
}

// makePCM returns frames of random samples at the given bit depth, packed
// into container bytes, left-justified, in byte order bo. Extremes included.
func makePCM(rng *rand.Rand, bo binary.ByteOrder, channels, frames, bits, container int, float bool) pcmCase {
	c := pcmCase{want: make([][]float32, channels)}
	var b bytes.Buffer
	for i := 0; i < frames; i++ {
		for ch := 0; ch < channels; ch++ {
			if float {
				v := rng.Float64()*2 - 1
				if container == 4 {
					binary.Write(&b, bo, float32(v))
					c.want[ch] = append(c.want[ch], float32(v))
				} else {
					binary.Write(&b, bo, v)
					c.want[ch] = append(c.want[ch], float32(v))
				}
				continue
			}
			lo, hi := -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
			var v int64
			switch i {
			case 0:
				v = lo
			case 1:
				v = hi
			case 2:
				v = 0
			default:
				v = lo + rng.Int63n(hi-lo+1)
			}
			shifted := v << (container*8 - bits) // left-justified in the container
			if container == 1 {
				b.WriteByte(byte(shifted + 128))
				c.want[ch] = append(c.want[ch], float32(shifted)/128)
				continue
			}
			raw := make([]byte, 8)
			if bo == binary.ByteOrder(binary.BigEndian) {
				binary.BigEndian.PutUint64(raw, uint64(shifted))
				raw = raw[8-container:]
			} else {
				binary.LittleEndian.PutUint64(raw, uint64(shifted))
				raw = raw[:container]
			}
			b.Write(raw)
			c.want[ch] = append(c.want[ch], float32(float64(shifted)/math.Exp2(float64(container*8-1))))
		}
	}
	c.data = b.Bytes()
	return c
}

func sameSamples(t *testing.T, name string, got *Buffer, want [][]float32) {
	t.Helper()
	if got.Channels() != len(want) {
		t.Errorf("%s: %d channels, want %d", name, got.Channels(), len(want))
		return
	}
	for c := range want {
		if len(got.Data[c]) != len(want[c]) {
			t.Errorf("%s: channel %d has %d samples, want %d", name, c, len(got.Data[c]), len(want[c]))
			return
		}
		for i := range want[c] {
			if got.Data[c][i] != want[c][i] {
				t.Errorf("%s: channel %d sample %d = %v, want %v", name, c, i, got.Data[c][i], want[c][i])
				return
			}
		}
	}
}
