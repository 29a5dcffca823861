package whisper_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/transcript"
	"github.com/goformer/goformer/whisper"
)

// Transcribe an audio file with a Hub checkpoint and print subtitles.
func ExampleModel_TranscribeReader() {
	m, err := whisper.Load("models/whisper-base") // a Hub-layout directory
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	f, err := os.Open("speech.flac")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := m.TranscribeReader(context.Background(), f, whisper.Options{
		Language:       "en",
		WordTimestamps: true,
		OnSegment: func(s whisper.Segment) {
			fmt.Fprintf(os.Stderr, "[%.2f → %.2f]%s\n", s.Start, s.End, s.Text)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := transcript.WriteSRT(os.Stdout, res.Transcript()); err != nil {
		log.Fatal(err)
	}
}

// Keep the float32 weights of a checkpoint packed in 16 bits: half the
// memory and half the bytes read per decoded token, at a cost of about 7e-4
// of the largest logit (F16). F16 checkpoints stay 16-bit without it.
func ExampleWithWeightType() {
	m, err := whisper.Load("models/whisper-base", whisper.WithWeightType(tensor.WeightF16))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	f, err := os.Open("speech.flac")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := m.TranscribeReader(context.Background(), f, whisper.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)
}
