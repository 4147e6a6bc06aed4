import { Module } from '@nestjs/common';
import { loadAlertingConfig } from '@portolan/config';
import { EventRecorder } from '@portolan/platform';
import { AlertIntake } from './alert.intake';
import { ALERTING_CONFIG } from './alerting.tokens';
import { DeliveryWorker } from './delivery.worker';

/** Matches recorded events to alert rules and delivers the alerts to their channels. */
@Module({ providers: [{ provide: ALERTING_CONFIG, useFactory: () => loadAlertingConfig() }, EventRecorder, DeliveryWorker, AlertIntake], exports: [DeliveryWorker] })
export class AlertingModule {}
