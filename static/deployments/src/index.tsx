import { createRoot } from 'react-dom/client';
import { enableHostTheme } from '../../shared/ui';
import { DeploymentsPage } from './DeploymentsPage';
import './deployments.css';

enableHostTheme();
createRoot(document.getElementById('root')!).render(<DeploymentsPage />);
