package audio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/goformer/goformer/audio"
)

// tone returns seconds of a 440 Hz sine at rate.
func tone(rate int, seconds float64) []float32 {
	pcm := make([]float32, int(seconds*float64(rate)))
	for i := range pcm {
		pcm[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	return pcm
}

// A WAV file in memory: 0.5 s of 16-bit stereo at 8 kHz.
func wavBytes() []byte {
	const rate, frames = 8000, 4000
	var data bytes.Buffer
	for i := 0; i < frames; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		binary.Write(&data, binary.LittleEndian, [2]int16{v, v})
	}
	var f bytes.Buffer
	w := func(v any) { binary.Write(&f, binary.LittleEndian, v) }
	f.WriteString("RIFF")
	w(uint32(36 + data.Len()))
	f.WriteString("WAVEfmt ")
	w(uint32(16))
	w([]uint16{1, 2})           // PCM, 2 channels
	w([]uint32{rate, rate * 4}) // sample rate, byte rate
	w([]uint16{4, 16})          // block align, bits per sample
	f.WriteString("data")
	w(uint32(data.Len()))
	f.Write(data.Bytes())
	return f.Bytes()
}

func ExampleDecode() {
	b, err := audio.Decode(bytes.NewReader(wavBytes()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Format, b.SampleRate, "Hz,", b.Channels(), "channels,", b.Frames(), "frames,", b.Duration())
	// Output: wav 8000 Hz, 2 channels, 4000 frames, 500ms
}

func ExampleLoad16k() {
	pcm, err := audio.Load16k(bytes.NewReader(wavBytes()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(pcm), "samples at 16 kHz")
	// Output: 8000 samples at 16 kHz
}

func ExampleResample() {
	pcm44 := tone(44100, 1)
	pcm16, err := audio.Resample(pcm44, 44100, audio.SampleRate)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(pcm44), "→", len(pcm16))
	// Output: 44100 → 16000
}

func ExampleResampler() {
	r, err := audio.NewResampler(48000, audio.SampleRate)
	if err != nil {
		fmt.Println(err)
		return
	}
	var out []float32
	in := tone(48000, 1)
	for len(in) > 0 { // feed 10 ms chunks, as from a microphone
		n := min(480, len(in))
		out = r.Write(out, in[:n])
		in = in[n:]
	}
	out = r.Flush(out)
	fmt.Println(len(out))
	// Output: 16000
}

func ExampleLogMel() {
	feats, err := audio.LogMel(tone(audio.SampleRate, 2), 80) // padded to 30 s
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(feats.Shape())
	// Output: [80 3000]
}

func ExampleMelExtractor_Windows() {
	e, err := audio.NewMelExtractor(128) // Whisper large-v3
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, w := range e.Windows(tone(audio.SampleRate, 75)) {
		fmt.Println(i, w.Shape())
	}
	// Output:
	// 0 [128 3000]
	// 1 [128 3000]
	// 2 [128 3000]
}

func ExampleMelExtractor_NewStream() {
	e, _ := audio.NewMelExtractor(80)
	s, err := e.NewStream(44100)
	if err != nil {
		fmt.Println(err)
		return
	}
	pcm := tone(44100, 40)
	windows := 0
	for len(pcm) > 0 {
		n := min(4410, len(pcm))
		w, err := s.Write(pcm[:n])
		if err != nil {
			fmt.Println(err)
			return
		}
		windows += len(w)
		pcm = pcm[n:]
	}
	fmt.Println("during the stream:", windows)
	fmt.Println("at the end:", len(s.Flush()))
	// Output:
	// during the stream: 1
	// at the end: 1
}

func ExampleMelExtractor_LogMelPadded() {
	e, _ := audio.NewMelExtractor(80)
	mel := e.LogMelPadded(tone(audio.SampleRate, 45)) // 45 s + 30 s of padding
	fmt.Println(mel.Shape())
	seg, err := audio.MelWindow(mel, 3000, 1500) // frames 3000..4499, zero-padded
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(seg.Shape())
	// Output:
	// [80 7500]
	// [80 3000]
}

// Windows of the padded spectrogram computed on demand: what
// whisper.Transcribe does for long recordings, holding one window of
// features at a time instead of the whole spectrogram.
func ExampleMelExtractor_NewPaddedMel() {
	e, _ := audio.NewMelExtractor(80)
	pcm := tone(audio.SampleRate, 45) // 45 s
	p, err := e.NewPaddedMel(context.Background(), pcm)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := p.Window(3000, 1500) // frames 3000..4499, zero-padded to 3000
	whole, _ := audio.MelWindow(e.LogMelPadded(pcm), 3000, 1500)
	same := true
	for i, v := range whole.Data() {
		same = same && w.Data()[i] == v
	}
	fmt.Println(p.Frames(), w.Shape(), same)
	// Output: 7500 [80 3000] true
}

func ExampleNormalize() {
	x := audio.Normalize([]float32{1, 2, 3, 4})
	fmt.Printf("%.3f\n", x)
	// Output: [-1.342 -0.447 0.447 1.342]
}
