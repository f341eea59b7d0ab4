import { createRoot } from 'react-dom/client';
import { enableHostTheme } from '../../shared/ui';
import { SettingsPage } from './SettingsPage';
import './settings.css';

enableHostTheme();
createRoot(document.getElementById('root')!).render(<SettingsPage />);
