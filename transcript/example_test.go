package transcript_test

import (
	"os"

	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/transcript"
)

func ExampleWriteSRT() {
	res := &task.Transcript{
		Language: "en",
		Segments: []task.Segment{
			{ID: 0, Start: 0, End: 2.5, Text: " And so, my fellow Americans,"},
			{ID: 1, Start: 2.5, End: 3725.25, Text: " ask not what your country can do for you."},
		},
	}
	transcript.WriteSRT(os.Stdout, res)
	// Output:
	// 1
	// 00:00:00,000 --> 00:00:02,500
	// And so, my fellow Americans,
	//
	// 2
	// 00:00:02,500 --> 01:02:05,250
	// ask not what your country can do for you.
}
