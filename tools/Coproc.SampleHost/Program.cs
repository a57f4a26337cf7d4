// A sample host (docs/embedding.md, native-layout.md §20): run it with `dotnet run --project tools/Coproc.SampleHost`.
using Coproc.SampleHost;

var result = SampleMachine.Run(Console.Out);
return result.Succeeded ? 0 : 1;
