import { evidenceFigures } from './evidenceScale';
evidenceFigures((label, ok, detail) => console.log(ok ? 'ok  ' : 'MISS', label, detail ?? '')).catch((e) => { console.error(e); process.exit(1); });
