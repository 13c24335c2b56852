// marked-man ships no types: it is a marked extension (options, renderer and tokenizer overrides).
declare module 'marked-man' {
  import type { MarkedExtension } from 'marked';
  const extension: MarkedExtension;
  export default extension;
}
