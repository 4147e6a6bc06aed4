export { AlertingModule } from './alerting.module';
export { AlertIntake } from './alert.intake';
export { DeliveryWorker } from './delivery.worker';
