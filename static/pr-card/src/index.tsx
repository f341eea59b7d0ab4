import { createRoot } from 'react-dom/client';
import { enableHostTheme } from '../../shared/ui';
import { Card } from './Card';

enableHostTheme();
createRoot(document.getElementById('root')!).render(<Card />);
