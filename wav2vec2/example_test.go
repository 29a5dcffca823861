package wav2vec2_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/wav2vec2"
)

// Transcribe an audio file (WAV, FLAC, MP3 or Ogg Vorbis, any rate) with a
// checkpoint downloaded from the Hub (facebook/wav2vec2-base-960h).
func ExampleModel_TranscribeReader() {
	m, err := wav2vec2.Load("models/wav2vec2-base-960h")
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("speech.flac")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := m.TranscribeReader(context.Background(), f, wav2vec2.Options{WordTimestamps: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)
	for _, w := range res.Words {
		fmt.Printf("%6.2f %6.2f %s\n", w.Start, w.End, w.Text)
	}
}

// Transcribe several clips in one padded batch with a HuBERT checkpoint
// (facebook/hubert-large-ls960-ft); its preprocessor asks for the attention
// mask, so each text is the clip's alone.
func ExampleModel_TranscribeBatch() {
	m, err := wav2vec2.Load("models/hubert-large-ls960-ft")
	if err != nil {
		log.Fatal(err)
	}
	var clips [][]float32
	for _, name := range []string{"one.wav", "two.flac"} {
		pcm, err := audio.Load16kFile(name)
		if err != nil {
			log.Fatal(err)
		}
		clips = append(clips, pcm)
	}
	res, err := m.TranscribeBatch(context.Background(), clips, wav2vec2.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range res {
		fmt.Printf("%d: %s\n", i, r.Text)
	}
}
