import { createRoot } from 'react-dom/client';
import { enableHostTheme } from '../../shared/ui';
import { AuditPage } from './AuditPage';
import './audit.css';

enableHostTheme();
createRoot(document.getElementById('root')!).render(<AuditPage />);
